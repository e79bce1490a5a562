//! Assembling a finished turn: the history entry (output items without ids, an assistant
//! message when the stream carried only deltas) and the outcome the client gets.

use codexd_proto::conversation::{AskMode, AskOutcome, AskRequest, RateLimits};
use serde_json::Value;

use super::plan::TurnPlan;
use super::send::Answer;
use crate::session::history::Turn;
use crate::session::{body, prompts};

/// The history entry and the client's outcome of a turn that completed.
pub fn assemble(
    plan: TurnPlan,
    answer: Answer,
    req: &AskRequest,
    conversation: &str,
    limits: Option<RateLimits>,
    at: u64,
) -> (Turn, AskOutcome) {
    let mut output: Vec<Value> = answer
        .items
        .into_iter()
        .filter(body::keep_in_history)
        .map(|mut item| {
            crate::backend::items::strip_ids(&mut item);
            item
        })
        .collect();
    let mut text = answer.text;
    let has_message = output
        .iter()
        .any(|i| i.get("type").and_then(Value::as_str) == Some("message"));
    if !has_message && !text.is_empty() {
        output.push(body::assistant_message(&text));
    }
    if matches!(req.mode, AskMode::SuggestCommand(_)) {
        text = prompts::clean_suggestion(&text);
    }
    let user = match req.context.as_deref().filter(|c| !c.trim().is_empty()) {
        Some(c) => format!("{}\n\n[piped context]\n{c}", req.prompt),
        None => req.prompt.clone(),
    };
    let turn = Turn {
        at,
        model: plan.model,
        user,
        input: plan.new_items,
        output,
        text: text.clone(),
        usage: answer.usage,
    };
    let outcome = AskOutcome {
        session: conversation.to_string(),
        text,
        usage: answer.usage,
        limits,
    };
    (turn, outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use codexd_proto::conversation::{SessionSelector, ShellContext};
    use serde_json::json;

    fn req(mode: AskMode, context: Option<&str>) -> AskRequest {
        AskRequest {
            context: context.map(str::to_owned),
            ..AskRequest::new("list files", SessionSelector::Ephemeral, mode)
        }
    }

    fn plan() -> TurnPlan {
        TurnPlan {
            model: "m".into(),
            effort: None,
            clamped_from: None,
            lite: true,
            new_items: vec![body::user_message("list files", None)],
            body: json!({}),
        }
    }

    #[test]
    fn ids_go_tool_calls_go_and_deltas_become_a_message() {
        let answer = Answer {
            text: "ls".into(),
            items: vec![
                json!({"id": "rs_1", "type": "reasoning", "encrypted_content": "enc"}),
                json!({"id": "fc_1", "type": "function_call"}),
            ],
            usage: None,
        };
        let (turn, outcome) = assemble(
            plan(),
            answer,
            &req(AskMode::Chat, Some("ctx")),
            "s",
            None,
            7,
        );
        assert_eq!(turn.output.len(), 2);
        assert!(turn.output[0].get("id").is_none());
        assert_eq!(turn.output[1], body::assistant_message("ls"));
        assert!(turn.user.contains("[piped context]\nctx"));
        assert_eq!(outcome.text, "ls");
        assert_eq!(turn.at, 7);
    }

    #[test]
    fn suggestions_are_cleaned() {
        let sh = ShellContext {
            shell: "bash".into(),
            os: "Linux".into(),
            cwd: "/".into(),
            last_status: None,
        };
        let answer = Answer {
            text: "```bash\nls -la\n```".into(),
            items: vec![],
            usage: None,
        };
        let (_, outcome) = assemble(
            plan(),
            answer,
            &req(AskMode::SuggestCommand(sh), None),
            "s",
            None,
            1,
        );
        assert_eq!(outcome.text, "ls -la");
    }
}
