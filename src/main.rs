fn main() -> std::process::ExitCode {
    identity_link::inbound::cli::main()
}
