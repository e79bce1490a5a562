//! The answer stream: SSE over the response body (parsed by the `eventsource-stream` crate),
//! each event's JSON turned into a [`StreamEvent`]. Unknown event types and unparseable data
//! are skipped, as upstream does; the idle timeout is applied by [`EventSource::next`].

use std::pin::Pin;
use std::time::Duration;

use codexd_proto::conversation::TokenUsage;
use eventsource_stream::Eventsource as _;
use futures_util::{Stream, StreamExt as _};
use serde_json::Value;

/// One event of the answer stream that matters to us.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// `response.output_text.delta`
    TextDelta(String),
    /// `response.reasoning_summary_text.delta`
    ReasoningDelta {
        /// The text.
        delta: String,
        /// Which summary part it belongs to (a new part starts a new paragraph).
        summary_index: i64,
    },
    /// `response.output_item.done`: a finished item for the history.
    ItemDone(Value),
    /// `response.completed`
    Completed {
        /// Token usage, when reported.
        usage: Option<TokenUsage>,
    },
    /// `response.failed` or `error`
    Failed {
        /// `error.code`
        code: Option<String>,
        /// `error.message`
        message: Option<String>,
    },
    /// `response.incomplete`
    Incomplete {
        /// `incomplete_details.reason`
        reason: Option<String>,
    },
}

/// Parse one event's `data`. `None` for events we ignore (and for garbage).
pub fn parse_event(data: &str) -> Option<StreamEvent> {
    let v: Value = serde_json::from_str(data).ok()?;
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    match v.get("type")?.as_str()? {
        "response.output_text.delta" => Some(StreamEvent::TextDelta(s(v.get("delta"))?)),
        "response.reasoning_summary_text.delta" => Some(StreamEvent::ReasoningDelta {
            delta: s(v.get("delta"))?,
            summary_index: v.get("summary_index").and_then(Value::as_i64).unwrap_or(0),
        }),
        "response.output_item.done" => Some(StreamEvent::ItemDone(v.get("item")?.clone())),
        "response.completed" => Some(StreamEvent::Completed {
            usage: v
                .get("response")
                .and_then(|r| r.get("usage"))
                .and_then(parse_usage),
        }),
        "response.failed" => {
            let err = v.get("response").and_then(|r| r.get("error"));
            Some(StreamEvent::Failed {
                code: s(err.and_then(|e| e.get("code"))),
                message: s(err.and_then(|e| e.get("message"))),
            })
        }
        "error" => {
            let err = v.get("error").unwrap_or(&v);
            Some(StreamEvent::Failed {
                code: s(err.get("code")),
                message: s(err.get("message")),
            })
        }
        "response.incomplete" => Some(StreamEvent::Incomplete {
            reason: s(v
                .get("response")
                .and_then(|r| r.get("incomplete_details"))
                .and_then(|d| d.get("reason"))),
        }),
        _ => None,
    }
}

fn parse_usage(u: &Value) -> Option<TokenUsage> {
    if !u.is_object() {
        return None;
    }
    let n = |v: Option<&Value>| v.and_then(Value::as_u64).unwrap_or(0);
    let input = n(u.get("input_tokens"));
    let output = n(u.get("output_tokens"));
    Some(TokenUsage {
        input,
        cached_input: n(u
            .get("input_tokens_details")
            .and_then(|d| d.get("cached_tokens"))),
        output,
        reasoning_output: n(u
            .get("output_tokens_details")
            .and_then(|d| d.get("reasoning_tokens"))),
        total: u
            .get("total_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(input + output),
    })
}

/// Why the stream stopped before `response.completed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamBreak {
    /// The body ended.
    Closed,
    /// The connection failed (reset, bad chunk, bad UTF-8).
    Transport(String),
    /// No event for the idle timeout.
    Idle(Duration),
}

/// One SSE event as it came: its `event:` name (if any) and `data:` text. The gateway relays
/// these; conversations parse them with [`parse_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEvent {
    /// `event:` line.
    pub event: Option<String>,
    /// `data:` lines.
    pub data: String,
}

type Inner = Pin<Box<dyn Stream<Item = Result<RawEvent, String>> + Send>>;

fn raw(ev: eventsource_stream::Event) -> RawEvent {
    RawEvent {
        event: (!ev.event.is_empty() && ev.event != "message").then_some(ev.event),
        data: ev.data,
    }
}

/// The SSE events of one response, with an idle timeout between events.
pub struct EventSource {
    inner: Inner,
    idle: Duration,
}

impl EventSource {
    /// Wrap a streaming response.
    pub fn new(resp: reqwest::Response, idle: Duration) -> Self {
        let inner = resp
            .bytes_stream()
            .eventsource()
            .map(|r| r.map(raw).map_err(|e| e.to_string()));
        Self {
            inner: Box::pin(inner),
            idle,
        }
    }

    /// From any stream of SSE bytes (tests).
    pub fn from_bytes<S, B, E>(bytes: S, idle: Duration) -> Self
    where
        S: Stream<Item = Result<B, E>> + Send + 'static,
        B: AsRef<[u8]> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        let inner = bytes
            .eventsource()
            .map(|r| r.map(raw).map_err(|e| e.to_string()));
        Self {
            inner: Box::pin(inner),
            idle,
        }
    }

    /// The next event as it came (any type), within the idle timeout.
    pub async fn next_raw(&mut self) -> Result<RawEvent, StreamBreak> {
        match tokio::time::timeout(self.idle, self.inner.next()).await {
            Err(_) => Err(StreamBreak::Idle(self.idle)),
            Ok(None) => Err(StreamBreak::Closed),
            Ok(Some(Err(e))) => Err(StreamBreak::Transport(e)),
            Ok(Some(Ok(ev))) => Ok(ev),
        }
    }

    /// The next event we care about, skipping unknown ones.
    pub async fn next(&mut self) -> Result<StreamEvent, StreamBreak> {
        loop {
            if let Some(ev) = parse_event(&self.next_raw().await?.data) {
                return Ok(ev);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(
        parts: &[&'static str],
    ) -> impl Stream<Item = Result<&'static [u8], String>> + Send + use<> {
        futures_util::stream::iter(parts.iter().map(|p| Ok(p.as_bytes())).collect::<Vec<_>>())
    }

    #[tokio::test]
    async fn parses_split_events_and_skips_unknown_ones() {
        let body = [
            "event: response.created\ndata: {\"type\":\"response.created\"}\n\n",
            "data: {\"type\":\"response.output_text.delta\",\"del",
            "ta\":\"Hel\"}\n\ndata: not json\n\n",
            "data: {\"type\":\"some.future.event\"}\n\n",
            "data: {\"type\":\"response.reasoning_summary_text.delta\",\"delta\":\"r\",\"summary_index\":1}\n\n",
            "data: {\"type\":\"response.output_item.done\",\"item\":{\"type\":\"message\"}}\n\n",
            "data: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":5,\"input_tokens_details\":{\"cached_tokens\":2},\"output_tokens\":3,\"output_tokens_details\":null,\"total_tokens\":8}}}\n\n",
        ];
        let mut es = EventSource::from_bytes(chunks(&body), Duration::from_secs(5));
        assert_eq!(es.next().await, Ok(StreamEvent::TextDelta("Hel".into())));
        assert_eq!(
            es.next().await,
            Ok(StreamEvent::ReasoningDelta {
                delta: "r".into(),
                summary_index: 1
            })
        );
        assert!(matches!(es.next().await, Ok(StreamEvent::ItemDone(_))));
        assert_eq!(
            es.next().await,
            Ok(StreamEvent::Completed {
                usage: Some(TokenUsage {
                    input: 5,
                    cached_input: 2,
                    output: 3,
                    reasoning_output: 0,
                    total: 8
                })
            })
        );
        assert_eq!(es.next().await, Err(StreamBreak::Closed));
    }

    #[tokio::test(start_paused = true)]
    async fn idle_timeout_fires() {
        let never = futures_util::stream::pending::<Result<&'static [u8], String>>();
        let mut es = EventSource::from_bytes(never, Duration::from_secs(300));
        assert_eq!(
            es.next().await,
            Err(StreamBreak::Idle(Duration::from_secs(300)))
        );
    }

    #[test]
    fn failures_and_fixture_shapes() {
        assert_eq!(
            parse_event(
                r#"{"type":"response.failed","response":{"error":{"code":"context_length_exceeded","message":"m"}}}"#
            ),
            Some(StreamEvent::Failed {
                code: Some("context_length_exceeded".into()),
                message: Some("m".into())
            })
        );
        // Upstream's incomplete fixture: an item-less output_item.done is skipped.
        assert_eq!(parse_event(r#"{"type":"response.output_item.done"}"#), None);
        // A zero usage block with null details.
        assert_eq!(
            parse_event(
                r#"{"type":"response.completed","response":{"id":"r","usage":{"input_tokens":0,"input_tokens_details":null,"output_tokens":0,"output_tokens_details":null,"total_tokens":0}}}"#
            ),
            Some(StreamEvent::Completed {
                usage: Some(TokenUsage::default())
            })
        );
        assert_eq!(
            parse_event(r#"{"type":"response.completed","response":{"id":"r","output":[]}}"#),
            Some(StreamEvent::Completed { usage: None })
        );
    }
}
