//! One module per subcommand. Each `run` returns the exit code or an error for `main`.

pub mod ask;
mod daemon;
mod data;
mod debug;
pub mod gateway;
mod generate;
pub mod instructions;
mod login;
mod logs;
pub mod service;
mod sessions;
pub mod shell;
mod status;

use crate::cli::{Cli, Command};
use crate::client::{Client, ConnectOptions};

/// Options every command sees.
pub struct Ctx {
    /// `--json`
    pub json: bool,
    /// Start the daemon when needed.
    pub autostart: bool,
}

impl Ctx {
    /// From the parsed command line and the environment.
    pub fn new(cli: &Cli) -> Self {
        let env_off = std::env::var("CODEXD_NO_AUTOSTART").is_ok_and(|v| !v.is_empty() && v != "0");
        Self {
            json: cli.json,
            autostart: !(cli.no_autostart || env_off),
        }
    }

    /// Connect to the daemon (starting it if allowed).
    pub fn connect(&self) -> anyhow::Result<Client> {
        let defers = service::defers_autostart();
        Client::connect(&ConnectOptions {
            autostart: self.autostart && !defers,
        })
        .map_err(|e| {
            if defers && self.autostart {
                e.context("the codexd user service is installed, so codexctl leaves starting the daemon to it, but nothing answered; check `codexctl service status`")
            } else {
                e
            }
        })
    }
}

/// Run a subcommand.
pub fn run(command: Command, ctx: &Ctx) -> anyhow::Result<u8> {
    match command {
        Command::Login(args) => login::login(args, ctx),
        Command::Logout(args) => login::logout(args, ctx),
        Command::Status => status::run(ctx),
        Command::Ask(args) => ask::run(args, ctx),
        Command::Sessions(cmd) => sessions::run(cmd, ctx),
        Command::Instructions(args) => instructions::run(args, ctx),
        Command::Models(args) => instructions::models(args, ctx),
        Command::Logs(args) => logs::run(args, ctx),
        Command::Data(cmd) => data::run(cmd, ctx),
        Command::Daemon(cmd) => daemon::run(cmd, ctx),
        Command::Service(cmd) => service::run(cmd, ctx),
        Command::Gateway(cmd) => gateway::run(cmd, ctx),
        Command::ShellInit(args) => shell::init(args),
        Command::Suggest(args) => shell::suggest(args, ctx),
        Command::Generate(cmd) => generate::run(cmd),
        Command::Debug(args) => debug::run(args, ctx),
    }
}
