//! `marimo probe`: a health check for container runtimes. The runtime image
//! carries no curl, so the binary checks itself: one HTTP/1.0 GET, success
//! on a 2xx status within the timeout.

use std::time::Duration;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

const TIMEOUT: Duration = Duration::from_secs(3);

/// Splits `http://host:port/path` into (`host:port`, `/path`).
fn split_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = rest
        .find('/')
        .map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
    (!authority.is_empty()).then_some((authority, path))
}

/// The status code of a GET to `url`.
pub async fn status(url: &str) -> Result<u16, String> {
    let (authority, path) =
        split_url(url).ok_or_else(|| format!("'{url}' is not an http:// URL"))?;
    let exchange = async {
        let mut stream = TcpStream::connect(authority)
            .await
            .map_err(|e| e.to_string())?;
        let request =
            format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\nUser-Agent: marimo-probe\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut head = vec![0u8; 64];
        let n = stream.read(&mut head).await.map_err(|e| e.to_string())?;
        let line = String::from_utf8_lossy(&head[..n]);
        line.split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| "not an HTTP response".to_owned())
    };
    tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| format!("no answer from {url} within {}s", TIMEOUT.as_secs()))?
}

#[cfg(test)]
mod tests {
    use super::split_url;

    #[test]
    fn splits_urls() {
        assert_eq!(
            split_url("http://127.0.0.1:8081/ready"),
            Some(("127.0.0.1:8081", "/ready"))
        );
        assert_eq!(split_url("http://users:8081"), Some(("users:8081", "/")));
        assert_eq!(split_url("https://x/"), None);
        assert_eq!(split_url("http:///x"), None);
    }
}
