//! `codexctl generate completions SHELL | man DIR`, from the clap definitions.

use clap::CommandFactory as _;

use crate::cli::{Cli, GenerateCommand};

/// Run `generate`.
pub fn run(cmd: GenerateCommand) -> anyhow::Result<u8> {
    match cmd {
        GenerateCommand::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "codexctl",
                &mut std::io::stdout(),
            );
        }
        GenerateCommand::Man { dir } => {
            std::fs::create_dir_all(&dir)?;
            clap_mangen::generate_to(Cli::command(), &dir)?;
        }
    }
    Ok(crate::exit::OK)
}
