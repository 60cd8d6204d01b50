// Registration, after Kratos saved the identity (response.ignore: true: Kratos
// does not wait). identity-link re-reads the identity from Kratos by id and links
// or provisions the user; the traits sent here are only a hint.
function(ctx) {
  identity: {
    id: ctx.identity.id,
    traits: ctx.identity.traits,
  },
}
