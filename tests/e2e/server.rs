//! A fake OpenAI Responses API for the real codex CLI: `POST /v1/responses` answered with a
//! streamed (chunked `text/event-stream`) reply, following a script of one step per request.
//!
//! Plain std: one listener thread, one thread per connection, HTTP/1.1 with keep-alive. Every
//! request is logged (headers and parsed JSON body) for the tests to inspect. Dropping the
//! server closes the listener and every connection, including ones left hanging on purpose.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// What the server does with one request.
#[derive(Clone, Debug)]
pub enum Step {
    /// An assistant message with this text.
    Message(String),
    /// A call of codex's `exec_command` tool with `{"cmd": ...}`; codex runs it and sends the
    /// output back in its next request.
    Shell(String),
    /// An assistant message quoting the output of the last tool call in the request.
    EchoToolOutput,
    /// An assistant message whose text is this JSON value, serialised (for `--output-schema`).
    Json(Value),
    /// An HTTP error: status code and JSON body.
    HttpError(u16, Value),
    /// Headers and the first `n` events of an assistant message, then the connection is closed
    /// (reset) in the middle of the stream.
    Drop(usize),
    /// Accept the request and never answer.
    Hang,
}

impl Step {
    pub fn message(text: &str) -> Step {
        Step::Message(text.to_string())
    }

    pub fn shell(cmd: &str) -> Step {
        Step::Shell(cmd.to_string())
    }

    pub fn rate_limited() -> Step {
        Step::HttpError(
            429,
            json!({"error": {"type": "rate_limit_exceeded", "code": "rate_limit_exceeded",
                "message": "Rate limit reached for gpt-5.5 (fake server). Please slow down."}}),
        )
    }

    pub fn server_error() -> Step {
        Step::HttpError(
            500,
            json!({"error": {"type": "server_error", "message": "The fake server had an error."}}),
        )
    }
}

/// One request as the server received it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Header names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON (`Value::Null` if it was empty or not JSON).
    pub body: Value,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `input` items of the request body.
    pub fn input(&self) -> &[Value] {
        self.body["input"].as_array().map_or(&[], |v| v.as_slice())
    }

    /// The texts of the `input` messages with this role, in order.
    pub fn texts(&self, role: &str) -> Vec<String> {
        self.input()
            .iter()
            .filter(|i| i["type"] == "message" && i["role"] == role)
            .flat_map(|i| i["content"].as_array().cloned().unwrap_or_default())
            .filter_map(|c| c["text"].as_str().map(str::to_string))
            .collect()
    }

    /// The names of the tools offered to the model.
    pub fn tool_names(&self) -> Vec<String> {
        self.body["tools"]
            .as_array()
            .map(|tools| {
                tools
                    .iter()
                    .map(|t| {
                        t["name"]
                            .as_str()
                            .or(t["type"].as_str())
                            .unwrap_or("")
                            .to_string()
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

struct Shared {
    steps: Vec<Step>,
    next: AtomicUsize,
    log: Mutex<Vec<Request>>,
    logged: Condvar,
    conns: Mutex<Vec<TcpStream>>,
    stopping: AtomicBool,
}

/// The running server; stops when dropped.
pub struct FakeServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<thread::JoinHandle<()>>,
}

impl FakeServer {
    /// Start on 127.0.0.1 with a free port. Request `n` (0-based) gets `steps[n]`; once the
    /// script is used up, its last step repeats (an empty script answers "ok").
    pub fn start(steps: Vec<Step>) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared {
            steps,
            next: AtomicUsize::new(0),
            log: Mutex::new(Vec::new()),
            logged: Condvar::new(),
            conns: Mutex::new(Vec::new()),
            stopping: AtomicBool::new(false),
        });
        let acceptor = {
            let shared = shared.clone();
            thread::spawn(move || {
                for conn in listener.incoming() {
                    if shared.stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    if let Ok(clone) = conn.try_clone() {
                        shared.conns.lock().unwrap().push(clone);
                    }
                    let shared = shared.clone();
                    thread::spawn(move || serve_connection(conn, &shared));
                }
            })
        };
        FakeServer {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The base URL to give codex (`.../v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.log.lock().unwrap().clone()
    }

    /// Wait until at least `n` requests have arrived (or `timeout` passes); returns them.
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<Request> {
        let end = Instant::now() + timeout;
        let mut log = self.shared.log.lock().unwrap();
        while log.len() < n {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            log = self.shared.logged.wait_timeout(log, left).unwrap().0;
        }
        log.clone()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        for conn in self.shared.conns.lock().unwrap().drain(..) {
            let _ = conn.shutdown(Shutdown::Both);
        }
        // Wake the acceptor so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// Serve requests on one keep-alive connection until it closes.
fn serve_connection(conn: TcpStream, shared: &Shared) {
    let Ok(write_half) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(conn);
    let mut out = write_half;
    while !shared.stopping.load(Ordering::SeqCst) {
        let Some(request) = read_request(&mut reader) else {
            return;
        };
        let is_responses = request.method == "POST" && request.path.ends_with("/responses");
        let index = if is_responses {
            Some(shared.next.fetch_add(1, Ordering::SeqCst))
        } else {
            None
        };
        let step = index.map(|i| {
            shared
                .steps
                .get(i)
                .or(shared.steps.last())
                .cloned()
                .unwrap_or_else(|| Step::message("ok"))
        });
        let n = index.unwrap_or(0) + 1;
        {
            let mut log = shared.log.lock().unwrap();
            log.push(request.clone());
            shared.logged.notify_all();
        }
        let keep_open = match step {
            None => write_simple(&mut out, 404, &json!({"error": {"message": "not found"}})),
            Some(step) => answer(&mut out, &step, &request, n, shared),
        };
        if !keep_open {
            return;
        }
    }
}

/// Read one HTTP/1.1 request (headers plus a Content-Length or chunked body).
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    // Skip blank lines between requests.
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if !line.trim().is_empty() {
            break;
        }
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        loop {
            line.clear();
            reader.read_line(&mut line).ok()?;
            let size = usize::from_str_radix(line.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(len, 0);
        reader.read_exact(&mut body).ok()?;
    }
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}

/// A complete response with a JSON body; returns whether the connection stays usable.
fn write_simple(out: &mut TcpStream, status: u16, body: &Value) -> bool {
    let body = body.to_string();
    let reason = match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    out.write_all(head.as_bytes())
        .and_then(|()| out.write_all(body.as_bytes()))
        .and_then(|()| out.flush())
        .is_ok()
}

/// Answer one `/v1/responses` request; returns whether the connection stays usable.
fn answer(out: &mut TcpStream, step: &Step, request: &Request, n: usize, shared: &Shared) -> bool {
    let id = format!("resp_fake_{n}");
    let events = match step {
        Step::HttpError(status, body) => return write_simple(out, *status, body),
        Step::Hang => {
            // Hold the connection until the client goes away or the server stops.
            let mut buf = [0u8; 1];
            let _ = out.set_read_timeout(Some(Duration::from_millis(200)));
            let mut probe = match out.try_clone() {
                Ok(p) => p,
                Err(_) => return false,
            };
            while !shared.stopping.load(Ordering::SeqCst) {
                match probe.read(&mut buf) {
                    Ok(0) => return false,
                    Ok(_) => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => return false,
                }
            }
            return false;
        }
        Step::Message(text) => message_events(&id, text),
        Step::Json(value) => message_events(&id, &value.to_string()),
        Step::EchoToolOutput => {
            let output = request
                .input()
                .iter()
                .rev()
                .find(|i| i["type"] == "function_call_output")
                .and_then(|i| i["output"].as_str())
                .unwrap_or("(no tool output in the request)")
                .to_string();
            message_events(&id, &format!("The tool returned: {output}"))
        }
        Step::Shell(cmd) => function_call_events(
            &id,
            &format!("call_fake_{n}"),
            "exec_command",
            &json!({"cmd": cmd}).to_string(),
        ),
        Step::Drop(after) => {
            let events = message_events(&id, "This answer never arrives in full.");
            let events: Vec<(String, Value)> = events.into_iter().take(*after).collect();
            let _ = write_sse_head(out);
            for (name, data) in &events {
                let _ = write_event(out, name, data);
            }
            let _ = out.flush();
            // Give the client a moment to read what was sent, then reset the connection.
            thread::sleep(Duration::from_millis(50));
            reset(out);
            return false;
        }
    };
    write_sse_head(out).is_ok()
        && events
            .iter()
            .all(|(name, data)| write_event(out, name, data).is_ok())
        && out.write_all(b"0\r\n\r\n").is_ok()
        && out.flush().is_ok()
}

fn write_sse_head(out: &mut TcpStream) -> std::io::Result<()> {
    out.write_all(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n",
    )?;
    out.flush()
}

/// One SSE event as one HTTP chunk.
fn write_event(out: &mut TcpStream, name: &str, data: &Value) -> std::io::Result<()> {
    let event = format!("event: {name}\ndata: {data}\n\n");
    out.write_all(format!("{:x}\r\n{event}\r\n", event.len()).as_bytes())?;
    out.flush()
}

/// Close with a TCP reset (SO_LINGER 0) rather than a clean FIN.
fn reset(out: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket fd and a correctly sized `linger` struct.
    unsafe {
        libc::setsockopt(
            out.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    let _ = out.shutdown(Shutdown::Both);
}

fn usage() -> Value {
    json!({
        "input_tokens": 120,
        "input_tokens_details": {"cached_tokens": 20},
        "output_tokens": 30,
        "output_tokens_details": {"reasoning_tokens": 5},
        "total_tokens": 150
    })
}

fn response(id: &str, status: &str, output: Value, usage: Value) -> Value {
    json!({
        "id": id,
        "object": "response",
        "created_at": 1_795_470_000,
        "status": status,
        "model": "gpt-5.5",
        "output": output,
        "usage": usage
    })
}

/// The events of a reply made of one assistant message.
fn message_events(id: &str, text: &str) -> Vec<(String, Value)> {
    let item_id = format!("msg_{id}");
    let half = text.len() / 2;
    let split = (0..=half)
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    let (a, b) = text.split_at(split);
    let part_empty = json!({"type": "output_text", "text": "", "annotations": []});
    let part_full = json!({"type": "output_text", "text": text, "annotations": []});
    let item_added = json!({"type": "message", "id": item_id, "status": "in_progress",
        "role": "assistant", "content": []});
    let item_done = json!({"type": "message", "id": item_id, "status": "completed",
        "role": "assistant", "content": [part_full]});
    let mut seq = 0;
    let mut ev = |name: &str, mut data: Value| {
        data["type"] = json!(name);
        data["sequence_number"] = json!(seq);
        seq += 1;
        (name.to_string(), data)
    };
    let mut events = vec![
        ev(
            "response.created",
            json!({"response": response(id, "in_progress", json!([]), Value::Null)}),
        ),
        ev(
            "response.output_item.added",
            json!({"output_index": 0, "item": item_added}),
        ),
        ev(
            "response.content_part.added",
            json!({"item_id": item_id, "output_index": 0, "content_index": 0, "part": part_empty}),
        ),
    ];
    for delta in [a, b] {
        events.push(ev(
            "response.output_text.delta",
            json!({"item_id": item_id, "output_index": 0, "content_index": 0, "delta": delta}),
        ));
    }
    events.extend([
        ev(
            "response.output_text.done",
            json!({"item_id": item_id, "output_index": 0, "content_index": 0, "text": text}),
        ),
        ev(
            "response.content_part.done",
            json!({"item_id": item_id, "output_index": 0, "content_index": 0, "part": part_full}),
        ),
        ev(
            "response.output_item.done",
            json!({"output_index": 0, "item": item_done}),
        ),
        ev(
            "response.completed",
            json!({"response": response(id, "completed", json!([item_done]), usage())}),
        ),
    ]);
    events
}

/// The events of a reply made of one function call.
fn function_call_events(
    id: &str,
    call_id: &str,
    name: &str,
    arguments: &str,
) -> Vec<(String, Value)> {
    let item_id = format!("fc_{id}");
    let added = json!({"type": "function_call", "id": item_id, "status": "in_progress",
        "name": name, "call_id": call_id, "arguments": ""});
    let done = json!({"type": "function_call", "id": item_id, "status": "completed",
        "name": name, "call_id": call_id, "arguments": arguments});
    let mut seq = 0;
    let mut ev = |n: &str, mut data: Value| {
        data["type"] = json!(n);
        data["sequence_number"] = json!(seq);
        seq += 1;
        (n.to_string(), data)
    };
    vec![
        ev(
            "response.created",
            json!({"response": response(id, "in_progress", json!([]), Value::Null)}),
        ),
        ev(
            "response.output_item.added",
            json!({"output_index": 0, "item": added}),
        ),
        ev(
            "response.function_call_arguments.delta",
            json!({"item_id": item_id, "output_index": 0, "delta": arguments}),
        ),
        ev(
            "response.function_call_arguments.done",
            json!({"item_id": item_id, "output_index": 0, "arguments": arguments}),
        ),
        ev(
            "response.output_item.done",
            json!({"output_index": 0, "item": done}),
        ),
        ev(
            "response.completed",
            json!({"response": response(id, "completed", json!([done]), usage())}),
        ),
    ]
}
