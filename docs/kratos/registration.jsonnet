// Registration, after Kratos saved the identity (web_hook without response.parse).
// identity-link re-reads the identity from Kratos by id and links or provisions
// the user; the traits sent here are only a hint.
function(ctx) {
  identity: {
    id: ctx.identity.id,
    traits: ctx.identity.traits,
  },
}
