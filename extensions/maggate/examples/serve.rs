//! MagGate over HTTP on loopback, for trying real PostgREST clients against
//! it before the component exists: the test schema and rows on an in-memory
//! SQLite database, or (`serve pg`) on a throwaway PostgreSQL database of the
//! server `MAGFLOCK_TEST_PG_URL` names. Prints the port, then serves until
//! its standard input closes (and then drops the throwaway database). A
//! request path may carry Supabase's `/rest/v1` prefix.
//!
//! A minimal HTTP/1.1 reader: one request per connection, `Content-Length`
//! bodies, bounded by MagGate's own limits. Not a server to expose.

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

fn main() -> std::io::Result<()> {
    let pg = std::env::args().nth(1).as_deref() == Some("pg");
    let sqlite;
    let postgres;
    let db: &dyn maggate::Database = if pg {
        postgres =
            common::PgDb::seeded().ok_or_else(|| std::io::Error::other("MAGFLOCK_TEST_PG_URL is not set"))?;
        &postgres
    } else {
        sqlite = common::SqliteDb::seeded();
        &sqlite
    };
    let events = common::Recorder::default();
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    println!("{}", addr.port());
    std::io::stdout().flush()?;
    let stop = Arc::new(AtomicBool::new(false));
    let stop_writer = Arc::clone(&stop);
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        stop_writer.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(addr);
    });
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        if let Err(e) = serve_one(stream?, db, &events) {
            eprintln!("connection: {e}");
        }
    }
    Ok(())
}

fn serve_one(
    mut stream: TcpStream,
    db: &dyn maggate::Database,
    events: &common::Recorder,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let target = parts.next().unwrap_or("").to_owned();
    let mut headers = Vec::new();
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim_end().is_empty() {
            break;
        }
        if let Some((k, v)) = h.trim_end().split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap_or(0).min(maggate::request::MAX_BODY_BYTES + 1);
            }
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let path = path.strip_prefix("/rest/v1").unwrap_or(path).to_owned();
    let req = maggate::HttpRequest { method, path, query: query.to_owned(), headers, body };
    let resp = maggate::handle(db, events, req);
    let mut head =
        format!("HTTP/1.1 {} -\r\nContent-Length: {}\r\nConnection: close\r\n", resp.status, resp.body.len());
    for (k, v) in &resp.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(&resp.body)
}
