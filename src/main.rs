//! The `breachscan` binary: all behaviour lives in the library; the CLI layer
//! parses arguments, prints, and maps outcomes to exit codes.

fn main() -> std::process::ExitCode {
    breachscan::cli::main()
}
