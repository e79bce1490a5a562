//! One module per subcommand. Each `run` returns the exit code or an error for `main`.

pub mod ask;
mod daemon;
mod data;
mod debug;
pub mod gateway;
mod generate;
pub mod instructions;
mod login;
pub mod logs;
pub mod service;
mod sessions;
pub mod shell;
mod status;

use crate::cli::{Cli, Command};
use crate::client::Client;
use crate::connect::Policy;

/// Options every command sees.
pub struct Ctx {
    /// `--json`
    pub json: bool,
    /// How to reach the daemon.
    pub policy: Policy,
}

impl Ctx {
    /// From the parsed command line and the environment.
    pub fn new(cli: &Cli) -> Self {
        Self {
            json: cli.json,
            policy: Policy::new(cli.no_autostart),
        }
    }

    /// Connect to the daemon under this command line's policy ([`crate::connect`]).
    pub fn connect(&self) -> anyhow::Result<Client> {
        crate::connect::connect(self.policy)
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
