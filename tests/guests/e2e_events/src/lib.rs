//! Publishes events and records the ones it receives.
//!
//! - `POST /publish/{topic}`: publishes the body; 201 with the event id, or
//!   409 with `{"error": "<case>", "message": ...}`.
//! - `POST /publish-many/{topic}/{n}/{batches}`: publishes `batches`
//!   batches of `n` one-byte events; answers how many went out and the
//!   first error.
//! - `GET /seen`: the events received, one line each:
//!   `id topic source hop attempt payload`.
//!
//! `on_event` behaves as config `mode` says: `record` records and
//! acknowledges; `fail-first` refuses each event's first attempt;
//! `fail-always` refuses every attempt; `trap` panics; `echo` records and
//! publishes the payload again, to config `echo_to` or else the same topic
//! (a loop).

use magflock_sdk::events::{self, Event};
use magflock_sdk::prelude::*;

struct EventsGuest;

fn error_case(e: &events::Error) -> (&'static str, String) {
    match e {
        events::Error::Denied(m) => ("denied", m.clone()),
        events::Error::TooLarge(m) => ("too_large", m.clone()),
        events::Error::HopLimit(m) => ("hop_limit", m.clone()),
        events::Error::Unavailable(m) => ("unavailable", m.clone()),
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Extension for EventsGuest {
    fn handle(req: Request) -> Response {
        let path = req.path().to_owned();
        if let Some(topic) = path.strip_prefix("/publish/") {
            return match events::publish(topic, req.body()) {
                Ok(id) => Response::text(201, id),
                Err(e) => {
                    let (case, msg) = error_case(&e);
                    Response::json(409, format!("{{\"error\":\"{case}\",\"message\":{}}}", json_string(&msg)))
                }
            };
        }
        if let Some(rest) = path.strip_prefix("/publish-many/") {
            let mut parts = rest.split('/');
            let topic = parts.next().unwrap_or_default();
            let n: usize = parts.next().and_then(|n| n.parse().ok()).unwrap_or(1);
            let batches: usize = parts.next().and_then(|n| n.parse().ok()).unwrap_or(1);
            // `keep-going`: try every batch even after a refusal.
            let keep_going = parts.next() == Some("keep-going");
            let mut sent = 0;
            let mut first_error = String::from("null");
            for _ in 0..batches {
                match events::publish_batch(topic, &vec![b"x".to_vec(); n]) {
                    Ok(ids) => sent += ids.len(),
                    Err(e) => {
                        if first_error == "null" {
                            first_error = format!("\"{}\"", error_case(&e).0);
                        }
                        if !keep_going {
                            break;
                        }
                    }
                }
            }
            return Response::json(200, format!("{{\"sent\":{sent},\"error\":{first_error}}}"));
        }
        if path == "/seen" {
            let mut lines = String::new();
            for key in kv::list_keys("seen/").unwrap() {
                let value = kv::get(&key).unwrap().unwrap_or_default();
                lines.push_str(&String::from_utf8_lossy(&value));
                lines.push('\n');
            }
            return Response::text(200, lines);
        }
        Response::json(404, r#"{"code":"not_found"}"#)
    }

    fn on_event(event: Event) -> Result<(), String> {
        let mode = config::get("mode").ok().flatten().unwrap_or_else(|| "record".to_owned());
        match mode.as_str() {
            "fail-first" if event.attempt == 1 => return Err("first attempts always fail".into()),
            "fail-always" => return Err(format!("refusing attempt {}", event.attempt)),
            "trap" => panic!("trapping on event {}", event.id),
            _ => {}
        }
        let line = format!(
            "{} {} {} {} {} {}",
            event.id,
            event.topic,
            event.source,
            event.hop,
            event.attempt,
            String::from_utf8_lossy(&event.payload)
        );
        // One record per attempt that got here: a second delivery of the
        // same event shows as a second line.
        kv::set(&format!("seen/{}/{}", event.id, event.attempt), line).map_err(|e| format!("{e:?}"))?;
        if mode == "echo" {
            // The end of the loop is the host's hop limit: acknowledge
            // either way, so the refusal is not retried.
            let to = config::get("echo_to").ok().flatten().unwrap_or_else(|| event.topic.clone());
            let _ = events::publish(&to, &event.payload);
        }
        Ok(())
    }
}

magflock_sdk::export!(EventsGuest);
