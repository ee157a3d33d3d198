//! HTTP requests and responses over `wasi:http/incoming-handler`.

use crate::__bindings::wasi::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use crate::__bindings::wasi::io::streams::StreamError;

/// The largest request body the SDK reads: 16 MiB. A larger body is answered
/// with `413 Payload Too Large` and the extension's handler is not called.
pub const MAX_REQUEST_BODY_BYTES: usize = 16 * 1024 * 1024;

/// How much of the request body is asked for per read.
const READ_CHUNK_BYTES: u64 = 64 * 1024;

/// The most bytes handed to one `blocking-write-and-flush` call; the
/// interface allows no more than 4096 per call.
const WRITE_CHUNK_BYTES: usize = 4096;

/// An HTTP request, with its body read in full.
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    path_with_query: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl Request {
    /// A request built by hand, for testing handlers natively.
    pub fn new(method: impl Into<String>, path_with_query: impl Into<String>) -> Self {
        Request {
            method: method.into(),
            path_with_query: path_with_query.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// This request with one more header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// This request with `body` as its body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The method, upper case as sent: `"GET"`, `"POST"`, ...
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The path, without the query string; `/` if the request had none.
    pub fn path(&self) -> &str {
        let path = match self.path_with_query.split_once('?') {
            Some((path, _)) => path,
            None => &self.path_with_query,
        };
        if path.is_empty() { "/" } else { path }
    }

    /// The raw query string after `?`, or `""` if there is none.
    pub fn query(&self) -> &str {
        self.path_with_query.split_once('?').map_or("", |(_, query)| query)
    }

    /// The first value of query parameter `name`, percent-decoded (`+` reads
    /// as a space). Invalid UTF-8 is replaced with U+FFFD.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query()
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
            .find(|(key, _)| percent_decode(key) == name)
            .map(|(_, value)| percent_decode(value))
    }

    /// The first value of header `name` (any case), if present and UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_bytes(name).and_then(|value| core::str::from_utf8(value).ok())
    }

    /// The first value of header `name` (any case) as raw bytes.
    pub fn header_bytes(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_slice())
    }

    /// All headers in the order received; names as the host gives them
    /// (lower case).
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.headers.iter().map(|(key, value)| (key.as_str(), value.as_slice()))
    }

    /// The body; empty if the request had none.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body as text, if it is UTF-8.
    pub fn body_str(&self) -> Option<&str> {
        core::str::from_utf8(&self.body).ok()
    }

    /// The body, taking it out of the request.
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }

    /// The headers (as [`Request::headers`] lists them) and the body,
    /// taking them out of the request.
    pub fn into_headers_and_body(self) -> (Vec<(String, Vec<u8>)>, Vec<u8>) {
        (self.headers, self.body)
    }
}

/// An HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl Response {
    /// An empty response with `status` and no headers.
    pub fn new(status: u16) -> Self {
        Response { status, headers: Vec::new(), body: Vec::new() }
    }

    /// A `text/plain; charset=utf-8` response.
    pub fn text(status: u16, text: impl Into<String>) -> Self {
        Response::new(status).with_header("content-type", "text/plain; charset=utf-8").with_body(text.into())
    }

    /// An `application/json` response; `json` must already be JSON text.
    pub fn json(status: u16, json: impl Into<Vec<u8>>) -> Self {
        Response::new(status).with_header("content-type", "application/json").with_body(json)
    }

    /// This response with header `name` set to `value`, replacing any value
    /// it had.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        let name = name.into();
        self.headers.retain(|(key, _)| !key.eq_ignore_ascii_case(&name));
        self.headers.push((name, value.into()));
        self
    }

    /// This response with one more value for header `name` (for headers
    /// that may repeat, like `set-cookie`).
    pub fn append_header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// This response with `body` as its body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The first value of header `name` (any case), if present and UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .and_then(|(_, value)| core::str::from_utf8(value).ok())
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

/// Why the request could not be handed to the extension.
enum ReadError {
    TooLarge,
    Unreadable,
}

/// Read `request`, run `handler` and write its response to `response_out`.
pub(crate) fn serve(
    request: IncomingRequest,
    response_out: ResponseOutparam,
    handler: impl FnOnce(Request) -> Response,
) {
    let response = match read_request(&request) {
        Ok(req) => handler(req),
        Err(ReadError::TooLarge) => Response::json(
            413,
            format!(
                r#"{{"code":"payload_too_large","detail":"the request body is larger than {MAX_REQUEST_BODY_BYTES} bytes"}}"#
            ),
        ),
        Err(ReadError::Unreadable) => {
            Response::json(400, r#"{"code":"bad_request","detail":"the request body could not be read"}"#)
        }
    };
    drop(request);
    write_response(response, response_out);
}

fn read_request(request: &IncomingRequest) -> Result<Request, ReadError> {
    let method = match request.method() {
        Method::Get => "GET".to_owned(),
        Method::Head => "HEAD".to_owned(),
        Method::Post => "POST".to_owned(),
        Method::Put => "PUT".to_owned(),
        Method::Delete => "DELETE".to_owned(),
        Method::Connect => "CONNECT".to_owned(),
        Method::Options => "OPTIONS".to_owned(),
        Method::Trace => "TRACE".to_owned(),
        Method::Patch => "PATCH".to_owned(),
        Method::Other(other) => other,
    };
    let path_with_query = request.path_with_query().unwrap_or_else(|| "/".to_owned());
    let headers = request.headers().entries();

    let declared_length = headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| core::str::from_utf8(value).ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    if declared_length.is_some_and(|len| len > MAX_REQUEST_BODY_BYTES as u64) {
        return Err(ReadError::TooLarge);
    }

    let body = match request.consume() {
        Ok(body) => read_body(body)?,
        // The body was already taken; there is nothing more to read.
        Err(()) => Vec::new(),
    };

    Ok(Request { method, path_with_query, headers, body })
}

fn read_body(body: IncomingBody) -> Result<Vec<u8>, ReadError> {
    let stream = body.stream().map_err(|()| ReadError::Unreadable)?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(READ_CHUNK_BYTES) {
            Ok(chunk) => {
                if bytes.len() + chunk.len() > MAX_REQUEST_BODY_BYTES {
                    return Err(ReadError::TooLarge);
                }
                bytes.extend_from_slice(&chunk);
            }
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(_)) => return Err(ReadError::Unreadable),
        }
    }
    // The stream is a child of the body and must go first. Dropping the body
    // ends it; trailers are not read, so `finish` (and its future-trailers
    // resource) is not imported at all: fewer imports make every instance
    // cheaper to create.
    drop(stream);
    drop(body);
    Ok(bytes)
}

fn write_response(response: Response, response_out: ResponseOutparam) {
    let Response { status, headers, body } = response;
    // `from-list` only, also for the empty list: the `fields` constructor
    // would be one more import to wire into every instance.
    let (status, headers, body) = match Fields::from_list(&headers) {
        Ok(fields) => (status, fields, body),
        Err(_) => match Fields::from_list(&[]) {
            Ok(empty) => (500, empty, b"the extension returned an invalid header\n".to_vec()),
            // Not reachable (an empty list is always valid); the host then
            // reports that no response was set.
            Err(_) => return,
        },
    };
    let outgoing = OutgoingResponse::new(headers);
    if outgoing.set_status_code(status).is_err() {
        // Not a valid status code; report the extension's mistake as a 500.
        let _ = outgoing.set_status_code(500);
    }
    let Ok(outgoing_body) = outgoing.body() else {
        return;
    };
    // Send the head first: the host starts streaming the body only once the
    // response is set.
    ResponseOutparam::set(response_out, Ok(outgoing));

    let Ok(stream) = outgoing_body.write() else {
        return;
    };
    for chunk in body.chunks(WRITE_CHUNK_BYTES) {
        if stream.blocking_write_and_flush(chunk).is_err() {
            // The client went away; nothing useful is left to do.
            return;
        }
    }
    // The stream is a child of the body and must go first.
    drop(stream);
    let _ = OutgoingBody::finish(outgoing_body, None);
}

/// Decode `%XX` escapes and `+` (a space) in a query-string component.
fn percent_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let high = bytes.get(i + 1).and_then(|b| (*b as char).to_digit(16));
                let low = bytes.get(i + 2).and_then(|b| (*b as char).to_digit(16));
                if let (Some(high), Some(low)) = (high, low) {
                    // Two hex digits make at most 0xff.
                    out.push((high * 16 + low) as u8);
                    i += 2;
                } else {
                    out.push(b'%');
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_param_decodes_percent_escapes_and_plus() {
        let req = Request::new("GET", "/greet?x=1&name=J%C3%BCrgen+M%2B&name=second");
        assert_eq!(req.query_param("name").as_deref(), Some("Jürgen M+"));
        assert_eq!(req.query_param("x").as_deref(), Some("1"));
        assert_eq!(req.query_param("missing"), None);
    }

    #[test]
    fn query_param_keeps_malformed_escapes_and_bare_keys() {
        let req = Request::new("GET", "/?a=%zz%4&flag");
        assert_eq!(req.query_param("a").as_deref(), Some("%zz%4"));
        assert_eq!(req.query_param("flag").as_deref(), Some(""));
    }

    #[test]
    fn path_and_query_split_at_the_first_question_mark() {
        let req = Request::new("GET", "/a/b?c=d?e");
        assert_eq!(req.path(), "/a/b");
        assert_eq!(req.query(), "c=d?e");
        assert_eq!(Request::new("GET", "").path(), "/");
        assert_eq!(Request::new("GET", "/x").query(), "");
    }

    #[test]
    fn header_lookup_ignores_case() {
        let req = Request::new("GET", "/").with_header("content-type", "text/plain");
        assert_eq!(req.header("Content-Type"), Some("text/plain"));
        assert_eq!(req.header("accept"), None);
    }

    #[test]
    fn with_header_replaces_but_append_header_adds() {
        let res = Response::text(200, "x").with_header("Content-Type", "text/html");
        assert_eq!(res.header("content-type"), Some("text/html"));
        assert_eq!(res.headers.len(), 1);
        let res = res.append_header("set-cookie", "a=1").append_header("set-cookie", "b=2");
        assert_eq!(res.headers.len(), 3);
    }
}
