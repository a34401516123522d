//! A tiny web server on 127.0.0.1 for tests that drive the binary: it answers
//! every request with `200 ok` and the given extra header lines.

use std::io::{Read, Write};

/// Starts the server on a free port and returns the port.
pub fn serve_ok(headers: String) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let reply = format!(
                "HTTP/1.1 200 OK\r\n{headers}Content-Length: 2\r\nConnection: close\r\n\r\nok"
            );
            let _ = conn.write_all(reply.as_bytes());
        }
    });
    port
}
