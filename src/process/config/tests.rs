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

fn parse(args: &[&str]) -> Result<Settings, String> {
    let cli = Cli::try_parse_from(std::iter::once("identity-link").chain(args.iter().copied()))
        .map_err(|error| error.to_string())?;
    cli.config.validate().map_err(|error| format!("{error:#}"))
}

#[test]
fn the_statement_cache_is_on_unless_turned_off() {
    assert!(parse(&[]).expect("defaults").database_statement_cache);
    assert!(
        !parse(&["--database-statement-cache=false"])
            .expect("false")
            .database_statement_cache
    );
    assert!(
        parse(&["--database-statement-cache", "true"])
            .expect("true")
            .database_statement_cache
    );
}

#[test]
fn a_statement_cache_that_is_neither_true_nor_false_is_refused_by_name() {
    let error = parse(&["--database-statement-cache=sometimes"]).expect_err("refused");
    assert!(error.contains("--database-statement-cache"), "{error}");
    assert!(error.contains("sometimes"), "{error}");
}
