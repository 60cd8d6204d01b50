// Settings, before Kratos saves a profile change (optional; response.parse: true,
// so Kratos waits for the answer and fails the change while identity-link is down):
// the traits are the new ones, not saved yet; identity-link refuses an email
// another user holds, so the change is stopped with a message.
function(ctx) {
  identity: {
    id: ctx.identity.id,
    traits: ctx.identity.traits,
  },
}
