// Login, after the user signed in (response.ignore: true: Kratos does not wait):
// captures existing users as the user base logs in, and keeps their email and
// names in sync.
function(ctx) {
  identity: {
    id: ctx.identity.id,
    traits: ctx.identity.traits,
  },
}
