// Registration, before Kratos saves the identity (web_hook with response.parse: true).
// The identity id is the nil UUID here; identity-link only reads the email trait
// and refuses an address that a linked user already holds.
// Only the id and traits are sent: credentials and metadata stay in Kratos.
function(ctx) {
  identity: {
    id: ctx.identity.id,
    traits: ctx.identity.traits,
  },
}
