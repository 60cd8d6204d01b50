use super::*;
use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    config: Config,
}

#[test]
fn configuration_never_prints_its_secrets() {
    let cli = Cli::parse_from([
        "identity-link",
        "--database-url=postgres://app:db-pa55@db/app",
        "--kratos-admin-url=https://ops:url-pa55@kratos.example",
        "--kratos-admin-token=kratos-t0ken",
        "--admin-token=admin-t0ken",
        "--webhook-secret=hook-s3cret",
    ]);
    let settings = cli.config.validate().unwrap();
    let printed = format!("{settings:?}");
    for secret in [
        "db-pa55",
        "url-pa55",
        "kratos-t0ken",
        "admin-t0ken",
        "hook-s3cret",
    ] {
        assert!(!printed.contains(secret), "{secret} in {printed}");
    }
}
