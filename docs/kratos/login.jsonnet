// Login, after the user signed in: captures existing users as the user base logs
// in, and keeps their email and names in sync.
function(ctx) {
  identity: {
    id: ctx.identity.id,
    traits: ctx.identity.traits,
  },
}
