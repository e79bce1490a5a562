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
use crate::client::{Attempt, Client, ConnectOptions};
use crate::exit::Unreachable;

/// Options every command sees.
pub struct Ctx {
    /// `--json`
    pub json: bool,
    /// Start the daemon when needed.
    pub autostart: bool,
    /// What turned autostart off, as the user would undo it (for the "not running" message).
    pub autostart_off_by: Option<&'static str>,
}

impl Ctx {
    /// From the parsed command line and the environment.
    pub fn new(cli: &Cli) -> Self {
        let env_off = std::env::var("CODEXD_NO_AUTOSTART").is_ok_and(|v| !v.is_empty() && v != "0");
        let autostart_off_by = match (cli.no_autostart, env_off) {
            (true, true) => Some("drop --no-autostart and unset CODEXD_NO_AUTOSTART"),
            (true, false) => Some("drop --no-autostart"),
            (false, true) => Some("unset CODEXD_NO_AUTOSTART"),
            (false, false) => None,
        };
        Self {
            json: cli.json,
            autostart: autostart_off_by.is_none(),
            autostart_off_by,
        }
    }

    /// Connect to the daemon (starting it if allowed: itself, or through the installed
    /// service). A "not running" error names only what the user really did.
    pub fn connect(&self) -> anyhow::Result<Client> {
        let defers = service::defers_autostart();
        if self.autostart && !defers {
            return Client::connect(&ConnectOptions { autostart: true });
        }
        let socket = codexd_proto::socket::socket_path();
        if let Attempt::Connected(c) = Client::try_connect(&socket)? {
            return Ok(c);
        }
        if self.autostart {
            return service::start_installed_service(&socket);
        }
        Err(Unreachable(format!(
            "codexd is not running (no answer on {}); start it with `codexctl daemon start`, or {} to let codexctl start it",
            socket.display(),
            self.autostart_off_by.unwrap_or("allow autostart")
        ))
        .into())
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
