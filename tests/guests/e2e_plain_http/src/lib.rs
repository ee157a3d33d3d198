//! A plain `wasi:http/proxy` component written without the SDK: any wasi:http
//! component can be an extension. `GET /` answers 200 `plain`.

mod bindings {
    wit_bindgen::generate!({
        path: [
            "../../../wit/deps/io",
            "../../../wit/deps/clocks",
            "../../../wit/deps/random",
            "../../../wit/deps/filesystem",
            "../../../wit/deps/sockets",
            "../../../wit/deps/cli",
            "../../../wit/deps/http",
        ],
        world: "wasi:http/proxy@0.2.12",
        generate_all,
    });
}

use bindings::exports::wasi::http::incoming_handler::Guest;
use bindings::wasi::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

struct Plain;

impl Guest for Plain {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let found = matches!(request.method(), Method::Get)
            && request.path_with_query().as_deref().unwrap_or("/") == "/";
        let (status, body): (u16, &[u8]) = if found { (200, b"plain") } else { (404, b"not found") };

        let headers =
            Fields::from_list(&[("content-type".to_string(), b"text/plain; charset=utf-8".to_vec())])
                .unwrap();
        let response = OutgoingResponse::new(headers);
        response.set_status_code(status).unwrap();
        let outgoing_body = response.body().unwrap();
        ResponseOutparam::set(response_out, Ok(response));
        let stream = outgoing_body.write().unwrap();
        stream.blocking_write_and_flush(body).unwrap();
        drop(stream);
        OutgoingBody::finish(outgoing_body, None).unwrap();
    }
}

bindings::export!(Plain with_types_in bindings);
