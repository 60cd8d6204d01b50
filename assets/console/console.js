// Starts GraphiQL on the admin console (/graphql). A file of its own: the
// page's Content-Security-Policy allows no inline script.
'use strict';

(function () {
  var ENDPOINT = '/graphql';

  // Shown in the headers editor for admins who use the admin token. Never
  // sent as it is, so an admin signed in to Kratos (whose session cookie goes
  // with every request) can leave it alone.
  var TOKEN_PLACEHOLDER = 'Bearer <admin token>';
  var HEADERS = JSON.stringify({ Authorization: TOKEN_PLACEHOLDER }, null, 2);

  var EXAMPLES = [
    '# identity-link admin console',
    '#',
    '# Signed in to Kratos as an admin? Your session cookie',
    '# goes with every request: nothing to add. With the',
    '# admin token, replace <admin token> in Headers below.',
    '# Fill in Variables, then put the cursor in a query and',
    '# press Ctrl-Enter, or press the run button and pick it.',
    '',
    '# A user by email: users whose email (or first or last',
    '# name) contains $search, 20 at a time; for more, pass',
    '# after: pageInfo.endCursor.',
    'query UserByEmail($search: String!) {',
    '  adminUsers(search: $search, first: 20) {',
    '    edges {',
    '      node {',
    '        userId email authId firstName lastName linkedAt',
    '      }',
    '    }',
    '    pageInfo { hasNextPage endCursor }',
    '  }',
    '}',
    '',
    '# The user linked to Kratos identity $authId (null: none).',
    'query UserByAuthId($authId: UUID!) {',
    '  adminUserByAuthId(authId: $authId) {',
    '    userId email authId accountUpn firstName lastName',
    '    createdAt linkedAt',
    '  }',
    '}',
    '',
    '# Users per status of backfill run $runId; null: of all',
    '# runs together. `identity-link backfill report` shows',
    '# the latest run and its id.',
    'query BackfillReport($runId: UUID) {',
    '  adminBackfillReport(runId: $runId) { status count }',
    '}',
    '',
    '# The audit trail of user $userId and of identity',
    '# $authId (give either or both), newest first.',
    'query AuditTrail($userId: UUID, $authId: UUID) {',
    '  adminIdentityAudit(',
    '    userID: $userId, authId: $authId, first: 20',
    '  ) {',
    '    occurredAt source action outcome actor',
    '    userId authId correlationId detail',
    '  }',
    '}',
    '',
  ].join('\n');

  var VARIABLES = JSON.stringify(
    {
      search: '@example.com',
      authId: '<Kratos identity id>',
      userId: null,
      runId: null,
    },
    null,
    2
  );

  // Same-origin credentials, and no Authorization header while it is still
  // the placeholder.
  function sameOriginFetch(url, init) {
    var headers = new Headers((init && init.headers) || {});
    var authorization = headers.get('Authorization');
    if (authorization !== null && authorization.trim() === TOKEN_PLACEHOLDER) {
      headers.delete('Authorization');
    }
    return window.fetch(
      url,
      Object.assign({}, init, { headers: headers, credentials: 'same-origin' })
    );
  }

  var fetcher = GraphiQL.createFetcher({
    url: ENDPOINT,
    fetch: sameOriginFetch,
    enableIncrementalDelivery: false,
  });

  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultTabs: [{ query: EXAMPLES, variables: VARIABLES, headers: HEADERS }],
      defaultQuery: EXAMPLES,
      defaultHeaders: HEADERS,
      defaultEditorToolsVisibility: 'headers',
      shouldPersistHeaders: false,
    })
  );
})();
