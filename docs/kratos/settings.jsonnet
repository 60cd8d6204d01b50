// Settings, after Kratos saved a profile change (response.ignore: true: Kratos
// does not wait): identity-link re-reads the identity and syncs the user's email
// and names.
function(ctx) {
  identity: {
    id: ctx.identity.id,
    traits: ctx.identity.traits,
  },
}
