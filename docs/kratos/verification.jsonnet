// Verification, after an address was verified (response.ignore: true: Kratos
// does not wait). Captures users whose email was not verified at registration
// (an existing user is linked only by a verified email).
function(ctx) {
  identity: {
    id: ctx.identity.id,
    traits: ctx.identity.traits,
  },
}
