// Settings, before Kratos saves the change (web_hook with response.parse: true):
// the traits are the new ones, not saved yet; identity-link refuses an email
// another user holds, so the change is stopped with a message.
function(ctx) {
  identity: {
    id: ctx.identity.id,
    traits: ctx.identity.traits,
  },
}
