fn main() -> std::process::ExitCode {
    identity_link::cli::main()
}
