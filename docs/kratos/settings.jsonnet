// Settings, after Kratos saved the change (web_hook without response.parse):
// identity-link re-reads the identity and syncs the user's email and names.
function(ctx) {
  identity: {
    id: ctx.identity.id,
    traits: ctx.identity.traits,
  },
}
