//! A seeded, replayable, randomized hostile HTTP/2 server: each draw is one way a server or
//! front end can answer (HTTP statuses, content types, `grpc-status` and `grpc-message`
//! of every shape, details that are not base64, broken gRPC framing, resets with every
//! error code, GOAWAYs before and after the headers, connections closed mid-frame, PING
//! floods, SETTINGS with no streams, huge header lists, and valid answers). Every call
//! must end within its deadline plus 2 s, with one readable line and the code the gRPC
//! spec gives (`doc/http-grpc-status-mapping.md` for answers that are not gRPC,
//! `doc/statuscodes.md`, `doc/compression.md`, PROTOCOL-HTTP2's error-code mapping).
//!
//! `HOSTILE_SEED=n HOSTILE_DRAWS=m cargo test --test hostile_server` replays a run; a
//! failure names its seed and draw.

use crate::support;
use crate::support::frames;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fastrand::Rng;
use longrunning_grpc::pb;
use longrunning_grpc::policy::RetryPolicy;
use prost::Message;
use support::op;
use tonic::Code;

/// One thing the server does for a request: frames to write (made for the stream id), a
/// close, or nothing more (hold the stream open).
#[derive(Clone)]
enum Step {
    Write(Arc<dyn Fn(u32) -> Vec<u8> + Send + Sync>),
    CloseFin,
    CloseRst,
}

fn write(f: impl Fn(u32) -> Vec<u8> + Send + Sync + 'static) -> Step {
    Step::Write(Arc::new(f))
}

/// What one connection does: its SETTINGS, and the steps for each request on it in turn.
#[derive(Clone, Default)]
struct ConnScript {
    settings: Vec<(u16, u32)>,
    requests: Vec<Vec<Step>>,
}

/// One draw: the connections it takes (a resend may open a second) and what the call
/// must end with.
struct Draw {
    label: String,
    conns: Vec<ConnScript>,
    expect: Option<Code>,
    /// A draw that can only end at the deadline gets a short one.
    deadline: Duration,
    /// The failure is one the client finds (a broken protocol), not a status the server
    /// sent: its words must not say "server returned".
    found_here: bool,
    /// A second code the call may end with: hyper (under a tonic `Channel`) sends a body
    /// from a task of its own, so an answer that comes, with a close, before the body went
    /// out can be lost to the close.
    also: Option<Code>,
}

const LONG: Duration = Duration::from_secs(10);
const SHORT: Duration = Duration::from_millis(200);

fn field(name: &str, value: impl Into<Vec<u8>>) -> (Vec<u8>, Vec<u8>) {
    (name.as_bytes().to_vec(), value.into())
}

fn headers_frame(stream: u32, fields: &[(Vec<u8>, Vec<u8>)], end: bool) -> Vec<u8> {
    let borrowed: Vec<(&[u8], &[u8])> = fields
        .iter()
        .map(|(n, v)| (n.as_slice(), v.as_slice()))
        .collect();
    frames::headers(stream, &borrowed, end)
}

/// `:status 200` and the gRPC content type: the head of a gRPC answer.
fn grpc_head() -> Vec<(Vec<u8>, Vec<u8>)> {
    vec![
        field(":status", "200"),
        field("content-type", "application/grpc"),
    ]
}

/// The head of a gRPC answer as a HEADERS frame that leaves the stream open.
fn open_head(id: u32) -> Vec<u8> {
    headers_frame(id, &grpc_head(), false)
}

fn valid_message() -> Vec<u8> {
    pb::Operation {
        name: op("x"),
        done: false,
        ..Default::default()
    }
    .encode_to_vec()
}

/// A gRPC answer: 200 and `head` (after the content type), `body` as one DATA frame, then
/// `trailers` (or END_STREAM on the data when there are none).
fn answer(
    head: Vec<(Vec<u8>, Vec<u8>)>,
    body: Vec<u8>,
    trailers: Option<Vec<(Vec<u8>, Vec<u8>)>>,
) -> Step {
    write(move |id| {
        let mut fields = grpc_head();
        fields.extend(head.clone());
        let mut out = headers_frame(id, &fields, false);
        out.extend(frames::data(id, &body, trailers.is_none()));
        if let Some(trailers) = &trailers {
            out.extend(headers_frame(id, trailers, true));
        }
        out
    })
}

/// A trailers-only answer: 200, the content type and `fields`, END_STREAM.
fn trailers_only(fields: Vec<(Vec<u8>, Vec<u8>)>) -> Step {
    write(move |id| {
        let mut all = grpc_head();
        all.extend(fields.clone());
        headers_frame(id, &all, true)
    })
}

/// A valid message, then `trailers` (none: END_STREAM on the data).
fn message_then(trailers: Option<Vec<(Vec<u8>, Vec<u8>)>>) -> Step {
    answer(vec![], frames::grpc_message(0, &valid_message()), trailers)
}

/// `fields` as the trailers after a valid message, or as a trailers-only answer.
fn status_fields(fields: Vec<(Vec<u8>, Vec<u8>)>, after_message: bool) -> Step {
    if after_message {
        message_then(Some(fields))
    } else {
        trailers_only(fields)
    }
}

fn valid_answer() -> Step {
    message_then(Some(vec![field("grpc-status", "0")]))
}

fn code_of(n: u8) -> Code {
    Code::from_i32(i32::from(n))
}

fn one(steps: Vec<Step>) -> Vec<ConnScript> {
    vec![ConnScript {
        settings: vec![],
        requests: vec![steps],
    }]
}

/// The code gRPC gives an HTTP status (`doc/http-grpc-status-mapping.md`).
fn http_code(status: u16) -> Code {
    match status {
        400 => Code::Internal,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::Unimplemented,
        429 | 502 | 503 | 504 => Code::Unavailable,
        _ => Code::Unknown,
    }
}

/// The code of a stream reset with `reason` (PROTOCOL-HTTP2.md, "Errors").
fn reset_code(reason: u32) -> Code {
    match reason {
        0x7 => Code::Unavailable,
        0x8 => Code::Cancelled,
        0xb => Code::ResourceExhausted,
        0xc => Code::PermissionDenied,
        _ => Code::Internal,
    }
}

/// An answer a resend may get: valid, or a plain error status.
fn follow_up(rng: &mut Rng) -> (Step, Option<Code>, String) {
    if rng.bool() {
        (valid_answer(), None, "valid".into())
    } else {
        let c = rng.u8(1..=16);
        let step = trailers_only(vec![field("grpc-status", c.to_string())]);
        (step, Some(code_of(c)), format!("status {c}"))
    }
}

/// The transports a user can choose.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Via {
    /// The connections the builder opens: requests the server did not process are sent
    /// again.
    OwnConnections,
    /// A tonic `Channel` handed to the builder, and one behind `build_with_service`:
    /// hyper sends nothing again.
    Channel,
    Service,
}

const VIAS: [Via; 3] = [Via::OwnConnections, Via::Channel, Via::Service];

fn draw(rng: &mut Rng, via: Via) -> Draw {
    let resends = via == Via::OwnConnections;
    let mut deadline = LONG;
    let family = rng.u8(0..34);
    let (label, conns, expect): (String, Vec<ConnScript>, Option<Code>) = match family {
        0..=1 => ("valid".into(), one(vec![valid_answer()]), None),
        2 => {
            // gRPC's content-type variants.
            let content_type = rng
                .choice([
                    "application/grpc+proto",
                    "application/grpc; charset=utf-8",
                    "application/grpc",
                ])
                .unwrap();
            let step = write(move |id| {
                let fields = [field(":status", "200"), field("content-type", content_type)];
                let mut out = headers_frame(id, &fields, false);
                out.extend(frames::data(
                    id,
                    &frames::grpc_message(0, &valid_message()),
                    false,
                ));
                out.extend(headers_frame(id, &[field("grpc-status", "0")], true));
                out
            });
            (format!("valid as {content_type}"), one(vec![step]), None)
        }
        32 | 33 => {
            // grpc-status in headers that are not the end of the answer: a message and
            // trailers follow. The headers' status is the answer (tonic, grpc-go).
            let c = rng.u8(0..=16);
            let step = answer(
                vec![field("grpc-status", c.to_string())],
                frames::grpc_message(0, &valid_message()),
                Some(vec![field("grpc-status", "0")]),
            );
            (
                format!("status {c} in headers, then a body"),
                one(vec![step]),
                (c != 0).then(|| code_of(c)),
            )
        }
        3 => {
            // HTTP statuses that are not gRPC, as a front end answers.
            let status = *rng
                .choice(&[
                    204u16, 301, 302, 400, 401, 403, 404, 429, 500, 502, 503, 504,
                ])
                .unwrap();
            let content_type = rng
                .choice(["text/html", "text/plain", "", "application/grpc"])
                .unwrap();
            let body = if rng.bool() {
                "<html><body><h1>error</h1></body></html>"
            } else {
                ""
            };
            let step = write(move |id| {
                let mut fields = vec![field(":status", status.to_string())];
                if !content_type.is_empty() {
                    fields.push(field("content-type", content_type));
                }
                let mut out = headers_frame(id, &fields, body.is_empty());
                if !body.is_empty() {
                    out.extend(frames::data(id, body.as_bytes(), true));
                }
                out
            });
            (
                format!("http {status} {content_type:?}"),
                one(vec![step]),
                Some(http_code(status)),
            )
        }
        4 => {
            // 1xx answers before the real one.
            let n = rng.usize(1..4);
            let informational = rng.choice([100u16, 103]).unwrap();
            let interim = write(move |id| {
                let mut out = Vec::new();
                for _ in 0..n {
                    out.extend(headers_frame(
                        id,
                        &[field(":status", informational.to_string())],
                        false,
                    ));
                }
                out
            });
            (
                format!("{n} x {informational} then valid"),
                one(vec![interim, valid_answer()]),
                None,
            )
        }
        5 => {
            let content_type = rng.choice(["text/html", "application/json", ""]).unwrap();
            let step = write(move |id| {
                let mut fields = vec![field(":status", "200")];
                if !content_type.is_empty() {
                    fields.push(field("content-type", content_type));
                }
                let mut out = headers_frame(id, &fields, false);
                out.extend(frames::data(id, b"<html>not grpc</html>", true));
                out
            });
            (
                format!("200 {content_type:?}"),
                one(vec![step]),
                Some(Code::Unknown),
            )
        }
        6 => {
            let c = rng.u8(1..=16);
            (
                "trailers-only status".into(),
                one(vec![trailers_only(vec![field(
                    "grpc-status",
                    c.to_string(),
                )])]),
                Some(code_of(c)),
            )
        }
        7 => {
            let c = rng.u8(0..=16);
            let step = message_then(Some(vec![field("grpc-status", c.to_string())]));
            (
                format!("message then status {c}"),
                one(vec![step]),
                (c != 0).then(|| code_of(c)),
            )
        }
        8 => {
            let value = rng
                .choice(["17", "99", "4294967296", "-1", "100000000000000000000"])
                .unwrap();
            let step = status_fields(vec![field("grpc-status", value)], rng.bool());
            (
                format!("status out of range {value}"),
                one(vec![step]),
                Some(Code::Unknown),
            )
        }
        9 => {
            let value = rng
                .choice(["abc", "", " 1", "1x", "0x1", "\u{ff10}"])
                .unwrap();
            let step = status_fields(vec![field("grpc-status", value)], rng.bool());
            // UNKNOWN, as tonic, grpc-java and C-core read it.
            (
                format!("status not a number {value:?}"),
                one(vec![step]),
                Some(Code::Unknown),
            )
        }
        10 => {
            // No grpc-status at all: trailers without it, or none.
            let trailers = rng.bool().then(|| vec![field("x-other", "1")]);
            let step = message_then(trailers);
            (
                "status missing".into(),
                one(vec![step]),
                Some(Code::Internal),
            )
        }
        11 => {
            let first = rng.u8(0..=16);
            let second = rng.u8(0..=16);
            let fields = vec![
                field("grpc-status", first.to_string()),
                field("grpc-status", second.to_string()),
            ];
            let step = status_fields(fields, rng.bool());
            (
                format!("status twice {first} {second}"),
                one(vec![step]),
                Some(Code::Internal),
            )
        }
        12 => {
            let c = rng.u8(1..=16);
            let which = rng.u8(0..8);
            let message: Vec<u8> = match which {
                0 => b"bad %zz escape".to_vec(),
                1 => b"trailing %".to_vec(),
                2 => b"%FF%FE not utf-8".to_vec(),
                3 => vec![b'r', b'a', b'w', 0xff, 0xfe, b'!'],
                4 => b"line%0Abreak%0D%0Ahere".to_vec(),
                5 => vec![b'm'; 8 * 1024],
                6 => vec![b'm'; 64 * 1024],
                _ => b"tab%09and%00nul".to_vec(),
            };
            // 64 KiB is past the header list the client accepts (16 KiB): h2 refuses the
            // block, the server's status never arrives (INTERNAL, as for any header list
            // too large).
            let expect = if which == 6 {
                Code::Internal
            } else {
                code_of(c)
            };
            let shown = String::from_utf8_lossy(&message[..message.len().min(24)]).into_owned();
            let message_len = message.len();
            let step = trailers_only(vec![
                field("grpc-status", c.to_string()),
                field("grpc-message", message),
            ]);
            (
                format!("message {shown:?} ({} bytes)", message_len),
                one(vec![step]),
                Some(expect),
            )
        }
        13 => {
            let c = rng.u8(1..=16);
            let details: Vec<u8> = match rng.u8(0..3) {
                0 => {
                    use base64::Engine;
                    let random: Vec<u8> = (0..rng.usize(1..64)).map(|_| rng.u8(..)).collect();
                    base64::engine::general_purpose::STANDARD
                        .encode(random)
                        .into_bytes()
                }
                1 => b"!!not base64!!".to_vec(),
                _ => {
                    use base64::Engine;
                    let other = pb::rpc::Status {
                        code: i32::from(c % 16 + 1),
                        message: "disagrees".into(),
                        details: vec![],
                    };
                    base64::engine::general_purpose::STANDARD
                        .encode(other.encode_to_vec())
                        .into_bytes()
                }
            };
            let step = trailers_only(vec![
                field("grpc-status", c.to_string()),
                field("grpc-status-details-bin", details),
            ]);
            ("details".into(), one(vec![step]), Some(code_of(c)))
        }
        14 => {
            // Framing: a compressed flag with no grpc-encoding, or one this client does not
            // decode; a flag that is neither 0 nor 1.
            let (label, head, flag) = match rng.u8(0..3) {
                0 => ("compressed, no grpc-encoding", vec![], 1),
                1 => (
                    "compressed with gzip",
                    vec![field("grpc-encoding", "gzip")],
                    1,
                ),
                _ => ("flag 2..255", vec![], rng.u8(2..=255)),
            };
            let step = answer(
                head,
                frames::grpc_message(flag, &valid_message()),
                Some(vec![field("grpc-status", "0")]),
            );
            (label.into(), one(vec![step]), Some(Code::Internal))
        }
        15 => {
            // grpc-encoding named, but the message is not compressed: fine.
            let step = answer(
                vec![field("grpc-encoding", "gzip")],
                frames::grpc_message(0, &valid_message()),
                Some(vec![field("grpc-status", "0")]),
            );
            (
                "grpc-encoding, uncompressed message".into(),
                one(vec![step]),
                None,
            )
        }
        16 => {
            let mut body = frames::grpc_message(0, &valid_message());
            let cut = match rng.u8(0..2) {
                // The prefix says more than the body holds.
                0 => body.len() - rng.usize(1..body.len() - 5),
                // The prefix itself is cut short.
                _ => rng.usize(1..5),
            };
            body.truncate(cut);
            let step = answer(vec![], body, Some(vec![field("grpc-status", "0")]));
            (
                format!("body cut at {cut}"),
                one(vec![step]),
                Some(Code::Internal),
            )
        }
        17 => {
            let n = rng.usize(2..4);
            let body = frames::grpc_message(0, &valid_message()).repeat(n);
            let step = answer(vec![], body, Some(vec![field("grpc-status", "0")]));
            (
                format!("{n} messages"),
                one(vec![step]),
                Some(Code::Internal),
            )
        }
        18 => {
            let len = rng.u32(4 * 1024 * 1024 + 1..=u32::MAX);
            let mut body = vec![0];
            body.extend_from_slice(&len.to_be_bytes());
            body.extend_from_slice(&[0; 64]);
            let step = answer(vec![], body, Some(vec![field("grpc-status", "0")]));
            (
                format!("message of {len} bytes"),
                one(vec![step]),
                Some(Code::ResourceExhausted),
            )
        }
        19 => {
            let c = rng.u8(1..=16);
            let encoding = rng.choice(["gzip", "br", "x-unknown"]).unwrap();
            let step = trailers_only(vec![
                field("grpc-encoding", encoding),
                field("grpc-status", c.to_string()),
            ]);
            (
                format!("trailers-only {c} with grpc-encoding {encoding}"),
                one(vec![step]),
                Some(code_of(c)),
            )
        }
        20 | 21 => {
            // A reset, before the answer or after its headers.
            let reason = *rng
                .choice(&[0u32, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0xa, 0xb, 0xc, 0xd, 0xff])
                .unwrap();
            let after_headers = family == 21;
            let reset = write(move |id| {
                let mut out = Vec::new();
                if after_headers {
                    out.extend(open_head(id));
                }
                out.extend(frames::rst(id, reason));
                out
            });
            let label = format!(
                "reset {reason:#x}{}",
                if after_headers { " after headers" } else { "" }
            );
            if reason == frames::REFUSED_STREAM && after_headers {
                // A refusal after an answer began is no promise that nothing was done.
                (label, one(vec![reset]), Some(Code::Unavailable))
            } else if reason == frames::REFUSED_STREAM && !resends {
                (label, one(vec![reset]), Some(Code::Unavailable))
            } else if reason == frames::REFUSED_STREAM {
                // Not processed: sent again at once on the same connection.
                let (again, expect, what) = follow_up(rng);
                let conns = vec![ConnScript {
                    settings: vec![],
                    requests: vec![vec![reset], vec![again]],
                }];
                (format!("{label}, then {what}"), conns, expect)
            } else {
                (label, one(vec![reset]), Some(reset_code(reason)))
            }
        }
        22 => {
            // A GOAWAY that leaves the stream unprocessed: sent again on a new connection.
            if !resends {
                let goaway = write(|_| frames::goaway(0, frames::NO_ERROR));
                let conns = one(vec![goaway, Step::CloseFin]);
                return Draw {
                    label: "goaway below the stream".into(),
                    conns,
                    expect: Some(Code::Unavailable),
                    deadline,
                    found_here: false,
                    also: None,
                };
            }
            let (again, expect, what) = follow_up(rng);
            let goaway = write(|_| frames::goaway(0, frames::NO_ERROR));
            let conns = vec![
                ConnScript {
                    settings: vec![],
                    requests: vec![vec![goaway, Step::CloseFin]],
                },
                ConnScript {
                    settings: vec![],
                    requests: vec![vec![again]],
                },
            ];
            (
                format!("goaway below the stream, then {what}"),
                conns,
                expect,
            )
        }
        23 => {
            // A graceful GOAWAY that includes the stream: it is answered.
            let goaway = write(|id| frames::goaway(id, frames::NO_ERROR));
            (
                "goaway including the stream".into(),
                one(vec![goaway, valid_answer(), Step::CloseFin]),
                None,
            )
        }
        24 => {
            // A GOAWAY with an error after the headers, then the connection closes.
            let step = write(|id| {
                let mut out = open_head(id);
                out.extend(frames::goaway(id, frames::PROTOCOL_ERROR));
                out
            });
            let close = if rng.bool() {
                Step::CloseFin
            } else {
                Step::CloseRst
            };
            (
                "goaway after the headers, closed".into(),
                one(vec![step, close]),
                Some(Code::Unavailable),
            )
        }
        25 => {
            // Closed in the middle of a frame.
            let step = write(|id| {
                let mut out = open_head(id);
                let data = frames::data(id, &frames::grpc_message(0, &valid_message()), false);
                out.extend_from_slice(&data[..data.len() / 2]);
                out
            });
            let close = if rng.bool() {
                Step::CloseFin
            } else {
                Step::CloseRst
            };
            (
                "closed mid-frame".into(),
                one(vec![step, close]),
                Some(Code::Unavailable),
            )
        }
        26 => {
            let close = if rng.bool() {
                Step::CloseFin
            } else {
                Step::CloseRst
            };
            (
                "closed before answering".into(),
                one(vec![close]),
                Some(Code::Unavailable),
            )
        }
        27 => {
            let n = rng.usize(100..2000);
            let flood = write(move |_| {
                let mut out = Vec::new();
                for i in 0..n {
                    out.extend(frames::ping((i as u64).to_be_bytes()));
                }
                out
            });
            (
                format!("{n} pings, then valid"),
                one(vec![flood, valid_answer()]),
                None,
            )
        }
        28 => {
            // No stream allowed at all: the call can only wait out its deadline.
            deadline = SHORT;
            let conns = vec![ConnScript {
                settings: vec![(0x3, 0)],
                requests: vec![],
            }];
            (
                "max_concurrent_streams 0".into(),
                conns,
                Some(Code::DeadlineExceeded),
            )
        }
        29 => {
            // A header list far above what the client accepts (16 KiB).
            let n = rng.usize(8..40);
            let step = write(move |id| {
                let mut fields = grpc_head();
                for i in 0..n {
                    fields.push(field(&format!("x-huge-{i}"), vec![b'h'; 4000]));
                }
                // In frames the client accepts: HEADERS, then CONTINUATIONs.
                let borrowed: Vec<(&[u8], &[u8])> = fields
                    .iter()
                    .map(|(n, v)| (n.as_slice(), v.as_slice()))
                    .collect();
                let block = frames::hpack(&borrowed);
                let mut chunks = block.chunks(16 * 1024).peekable();
                let mut out = Vec::new();
                let mut first = true;
                while let Some(chunk) = chunks.next() {
                    let last = chunks.peek().is_none();
                    let flags = if last { frames::END_HEADERS } else { 0 };
                    let kind = if first {
                        frames::HEADERS
                    } else {
                        frames::CONTINUATION
                    };
                    out.extend(frames::frame(kind, flags, id, chunk));
                    first = false;
                }
                out
            });
            (
                format!("{n} x 4 KB headers"),
                one(vec![step]),
                Some(Code::Internal),
            )
        }
        30 => {
            // Headers, then nothing: the deadline ends it.
            deadline = SHORT;
            let step = write(open_head);
            (
                "headers, then silence".into(),
                one(vec![step]),
                Some(Code::DeadlineExceeded),
            )
        }
        _ => {
            // A valid answer, its message in many small DATA frames.
            let step = write(|id| {
                let mut out = open_head(id);
                for byte in frames::grpc_message(0, &valid_message()) {
                    out.extend(frames::data(id, &[byte], false));
                }
                out.extend(headers_frame(id, &[field("grpc-status", "0")], true));
                out
            });
            ("valid, a byte a frame".into(), one(vec![step]), None)
        }
    };
    let found_here = matches!(family, 10 | 11 | 14 | 16 | 17 | 18 | 29);
    Draw {
        label,
        conns,
        expect,
        deadline,
        found_here,
        also: (family == 23 && !resends).then_some(Code::Unavailable),
    }
}

/// Serves the scripts in order, one per connection.
fn serve(scripts: Vec<ConnScript>) -> std::net::SocketAddr {
    let queue = Arc::new(Mutex::new(VecDeque::from(scripts)));
    // Settings go in the preface, so the server writes its own after taking the script:
    // the preface's SETTINGS from `frames::serve` is empty, and a script's come next.
    let (addr, _) = frames::serve(vec![], move |mut conn| {
        let script = queue.lock().unwrap().pop_front().unwrap_or_default();
        async move {
            if !script.settings.is_empty() {
                conn.write(&frames::settings(&script.settings)).await;
            }
            let mut requests = script.requests.into_iter();
            while let Some((stream, _)) = conn.next_request().await {
                let Some(steps) = requests.next() else {
                    // Nothing scripted: hold the stream.
                    continue;
                };
                for step in steps {
                    match step {
                        Step::Write(bytes) => conn.write(&bytes(stream)).await,
                        Step::CloseFin => return conn.close().await,
                        Step::CloseRst => return conn.reset(),
                    }
                }
            }
        }
    });
    addr
}

/// One GetOperation over a new client (so a new connection) through `via`.
async fn get(
    via: Via,
    addr: std::net::SocketAddr,
    deadline: Duration,
) -> Result<pb::Operation, longrunning_grpc::Error> {
    let builder = support::builder_at(addr)
        .retry_policy(RetryPolicy::never())
        .timeout(deadline);
    let channel = || {
        tonic::transport::Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_lazy()
    };
    match via {
        Via::OwnConnections => builder.build()?.get_operation(op("x")).await,
        Via::Channel => {
            builder
                .channel(channel())
                .build()?
                .get_operation(op("x"))
                .await
        }
        Via::Service => {
            builder
                .build_with_service(channel())?
                .get_operation(op("x"))
                .await
        }
    }
}

/// What a readable one-line message must not hold.
const DEBUG_TEXT: [&str; 10] = [
    "Error {",
    "Kind",
    "Custom {",
    "Os {",
    "source:",
    "StreamId",
    "Some(",
    "Status {",
    "code: ",
    "OtherError",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_answer_ends_in_time_with_one_readable_line_and_the_specified_code() {
    let seed: u64 = std::env::var("HOSTILE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2026);
    let count: usize = std::env::var("HOSTILE_DRAWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let mut rng = Rng::with_seed(seed);
    // Draw i goes over transport i % 3, each with a server of its own whose connections
    // take the scripts of its draws in order.
    let draws: Vec<(Via, Draw)> = (0..count)
        .map(|i| {
            let via = VIAS[i % VIAS.len()];
            (via, draw(&mut rng, via))
        })
        .collect();
    let servers: Vec<(Via, std::net::SocketAddr)> = VIAS
        .iter()
        .map(|&via| {
            let scripts = draws
                .iter()
                .filter(|(v, _)| *v == via)
                .flat_map(|(_, d)| d.conns.clone())
                .collect();
            (via, serve(scripts))
        })
        .collect();

    let mut failures = Vec::new();
    for (i, (via, draw)) in draws.iter().enumerate() {
        let addr = servers.iter().find(|(v, _)| v == via).unwrap().1;
        let outcome = tokio::time::timeout(
            draw.deadline + Duration::from_secs(2),
            get(*via, addr, draw.deadline),
        )
        .await;
        let problem = match (outcome, draw.expect) {
            (Err(_), _) => Some("no end within the deadline plus 2 s".to_owned()),
            (Ok(Ok(_)), None) => None,
            (Ok(Ok(_)), Some(code)) => Some(format!("succeeded; expected {code:?}")),
            (Ok(Err(e)), expect) => {
                let shown = e.to_string();
                if expect != Some(e.code()) && draw.also != Some(e.code()) {
                    Some(format!("{:?} ({shown}); expected {expect:?}", e.code()))
                } else if shown.contains('\n') || shown.contains('\r') {
                    Some(format!("more than one line: {shown:?}"))
                } else if let Some(debug) = DEBUG_TEXT.iter().find(|d| shown.contains(*d)) {
                    Some(format!("debug text {debug:?} in {shown:?}"))
                } else if draw.found_here && shown.starts_with("server returned") {
                    Some(format!(
                        "found by the client, but worded as the server's: {shown:?}"
                    ))
                } else if shown.len() > 2048 {
                    Some(format!("{} bytes long", shown.len()))
                } else {
                    None
                }
            }
        };
        if let Some(problem) = problem {
            failures.push(format!("draw {i} ({}, {via:?}): {problem}", draw.label));
        }
    }
    assert!(
        failures.is_empty(),
        "seed {seed}, {} of {count} draws failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
