//! Just enough HTTP/1.0 to ask a member about itself: `/health` and, through
//! etcd's JSON gateway, `/v3/maintenance/status`. No client crate for two
//! requests whose answers we only search for a field.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// The body of `METHOD path` on 127.0.0.1:`port`, or `None` if the member
/// does not answer within a second.
fn request(port: u16, method: &str, path: &str, body: &str) -> Option<String> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_millis(200)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (_, body) = response.split_once("\r\n\r\n")?;
    Some(body.to_owned())
}

/// Whether the member says it is healthy (it has a leader and answers reads).
pub(crate) fn healthy(port: u16) -> bool {
    request(port, "GET", "/health", "").is_some_and(|body| body.contains(r#""health":"true""#))
}

/// The member's own id and its leader's id, as the JSON gateway spells them.
pub(crate) fn member_and_leader(port: u16) -> Option<(String, String)> {
    let body = request(port, "POST", "/v3/maintenance/status", "{}")?;
    Some((field(&body, "member_id")?, field(&body, "leader")?))
}

/// The string value of `"name":"value"` in a JSON text (the gateway writes
/// 64-bit ids as strings).
fn field(json: &str, name: &str) -> Option<String> {
    let start = json.find(&format!(r#""{name}":""#))? + name.len() + 4;
    let end = start + json[start..].find('"')?;
    Some(json[start..end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn reads_string_fields() {
        let json = r#"{"header":{"member_id":"123","raft_term":"2"},"leader":"456"}"#;
        assert_eq!(field(json, "member_id").as_deref(), Some("123"));
        assert_eq!(field(json, "leader").as_deref(), Some("456"));
        assert_eq!(field(json, "missing"), None);
    }
}
