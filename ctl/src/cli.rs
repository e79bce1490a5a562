//! The command line: the top-level clap types, assembled from the arguments each command
//! defines next to its code (`commands::*`), and the dispatch from a parsed command to its
//! module. Shell completions and man pages are generated from these same definitions.

use clap::error::ErrorKind;
use clap::{CommandFactory as _, Parser, Subcommand};

use crate::commands::ask::AskArgs;
use crate::commands::daemon::DaemonCommand;
use crate::commands::data::DataCommand;
use crate::commands::debug::DebugArgs;
use crate::commands::gateway::GatewayCommand;
use crate::commands::generate::GenerateCommand;
use crate::commands::instructions::{InstructionsArgs, ModelsArgs};
use crate::commands::login::{LoginArgs, LogoutArgs};
use crate::commands::logs::LogsArgs;
use crate::commands::service::ServiceCommand;
use crate::commands::sessions::SessionsCommand;
use crate::commands::shell::{SHELL_INIT_HELP, ShellInitArgs, SuggestArgs};
use crate::commands::{self, Ctx};

/// codexctl — talk to codexd: sign in with ChatGPT, ask Codex models, manage conversations.
#[derive(Parser, Debug)]
#[command(name = "codexctl", version, about, after_long_help = crate::exit::HELP)]
pub struct Cli {
    /// Print machine-readable JSON (one JSON document; `ask` prints one JSON line per event).
    #[arg(long, global = true)]
    pub json: bool,
    /// Never start the daemon; fail when it is not running (also CODEXD_NO_AUTOSTART=1).
    #[arg(long, global = true)]
    pub no_autostart: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Sign in with ChatGPT (browser by default).
    Login(LoginArgs),
    /// Revoke the sign-in at OpenAI, then delete local credentials.
    Logout(LogoutArgs),
    /// Show the daemon, sign-in, instructions, sessions and usage state.
    Status,
    /// Ask a question; the answer streams to stdout.
    #[command(after_help = crate::commands::ask::SESSION_RULE)]
    Ask(AskArgs),
    /// List, show, remove or rename conversations.
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// Show the base instructions used for a model.
    Instructions(InstructionsArgs),
    /// List the models available to your plan.
    Models(ModelsArgs),
    /// Show recent log lines, or follow them live.
    Logs(LogsArgs),
    /// List or delete the data codexd keeps.
    #[command(subcommand)]
    Data(DataCommand),
    /// Start, stop or inspect the daemon.
    #[command(subcommand)]
    Daemon(DaemonCommand),
    /// Install the daemon as a systemd user service or launchd agent.
    #[command(subcommand)]
    Service(ServiceCommand),
    /// The OpenAI-compatible gateway for other tools: on, off, status, key, config.
    #[command(subcommand)]
    Gateway(GatewayCommand),
    /// Print the shell integration script: eval "$(codexctl shell-init bash)".
    #[command(after_long_help = SHELL_INIT_HELP)]
    ShellInit(ShellInitArgs),
    /// Suggest a command for a shell line (used by the shell integration).
    #[command(hide = true)]
    Suggest(SuggestArgs),
    /// Print shell completions or a man page.
    #[command(subcommand)]
    Generate(GenerateCommand),
    /// Send a test-only request (needs CODEXD_TEST_HOOKS=1 in the daemon).
    #[command(hide = true)]
    Debug(DebugArgs),
}

/// `--json` and `--no-autostart` are global, but `shell-init` only prints a script: it never
/// talks to the daemon and prints no JSON. Taking them silently would suggest they did
/// something, so they are a usage error there (exit 2, like any clap error).
pub fn refuse_idle_flags(cli: &Cli) {
    if !matches!(cli.command, Command::ShellInit(_)) {
        return;
    }
    let given: Vec<&str> = [(cli.json, "--json"), (cli.no_autostart, "--no-autostart")]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
    if !given.is_empty() {
        Cli::command()
            .error(
                ErrorKind::ArgumentConflict,
                format!(
                    "shell-init does not take {}: it only prints a script (drop the flag)",
                    given.join(" or ")
                ),
            )
            .exit();
    }
}

/// Run a subcommand.
pub fn run(command: Command, ctx: &Ctx) -> anyhow::Result<u8> {
    use commands::*;
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
        Command::Generate(cmd) => generate::run(cmd, Cli::command()),
        Command::Debug(args) => debug::run(args, ctx),
    }
}
