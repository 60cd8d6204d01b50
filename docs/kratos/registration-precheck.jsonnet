// Registration, before Kratos saves the identity (optional; response.parse: true,
// so Kratos waits for the answer and fails the sign-up while identity-link is down).
// The identity id is the nil UUID here; identity-link only reads the email trait
// and refuses an address that a linked user already holds.
// Only the id and traits are sent: credentials and metadata stay in Kratos.
function(ctx) {
  identity: {
    id: ctx.identity.id,
    traits: ctx.identity.traits,
  },
}
