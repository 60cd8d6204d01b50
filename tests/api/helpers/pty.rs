//! The built binary on a pseudo-terminal, as an operator at a terminal runs
//! it: util-linux `script` (package bsdutils, on every Debian) gives the
//! command a terminal for stdin, stdout and stderr and copies what it shows.

use std::process::Stdio;

use tokio::io::AsyncReadExt;
use tokio::process::Command;

use super::binary::{BIN, CLEARED};

/// What a command showed on its terminal (stdout and stderr together, line
/// ends as `\n`) and how it exited.
pub struct Screen {
    pub code: Option<i32>,
    pub text: String,
}

impl Screen {
    /// Whether the terminal received any escape sequence (colours, cursor moves).
    pub fn has_escapes(&self) -> bool {
        self.text.contains('\u{1b}')
    }

    /// Whether the terminal received a colour (an SGR sequence `ESC[…m`).
    pub fn has_colours(&self) -> bool {
        self.text.split('\u{1b}').skip(1).any(|sequence| {
            sequence.strip_prefix('[').is_some_and(|rest| {
                rest.trim_start_matches(|c: char| c.is_ascii_digit() || c == ';')
                    .starts_with('m')
            })
        })
    }
}

fn quoted(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', r"'\''"))
}

/// Runs the binary with `args` on a terminal, with `env` set on top of a
/// clean environment (no configuration from the test's own shell, no
/// `LOG_FORMAT`, no `NO_COLOR`), to completion.
pub async fn on_terminal(args: &[&str], env: &[(&str, &str)]) -> Screen {
    let line = std::iter::once(BIN)
        .chain(args.iter().copied())
        .map(quoted)
        .collect::<Vec<_>>()
        .join(" ");
    let mut command = Command::new("script");
    command.args(["--quiet", "--return", "--command", &line, "/dev/null"]);
    for var in CLEARED.iter().chain(&["LOG_FORMAT", "NO_COLOR"]) {
        command.env_remove(var);
    }
    command
        .env("TERM", "xterm-256color")
        .env("SHELL", "/bin/sh")
        .envs(env.iter().copied())
        // An open, silent stdin: `script` ends the session at its end of file.
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let mut child = command.spawn().expect("`script` (util-linux) runs");
    let _stdin = child.stdin.take();
    let mut shown = Vec::new();
    child
        .stdout
        .take()
        .expect("script's stdout")
        .read_to_end(&mut shown)
        .await
        .expect("read the terminal");
    let status = child.wait().await.expect("script exits");
    Screen {
        code: status.code(),
        text: String::from_utf8_lossy(&shown).replace('\r', ""),
    }
}
