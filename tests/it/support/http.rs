//! A blocking HTTP client for the servers tests start on 127.0.0.1: any method, any headers, and a
//! response whose 4xx/5xx is data to assert on, not an error.
//!
//! ```ignore
//! let res = http::request("GET", &format!("{base}/api/plugins/items/items"), &[("X-Tenant-Id", "dev")], None);
//! assert_eq!(res.status, 403, "{res:?}");
//! let res = http::request("OPTIONS", &url, &[("Origin", "http://localhost:5173"),
//!     ("Access-Control-Request-Method", "POST")], None);
//! assert_eq!(res.header("access-control-allow-origin"), Some("http://localhost:5173"));
//! ```

use std::sync::OnceLock;
use std::time::Duration;

use ureq::http;

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Header names are lowercase.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON; panics with the body when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("response {} is not JSON ({e}): {}", self.status, self.body))
    }
}

/// Send one request and wait for the whole response (30 s at most). Panics only when no response
/// comes at all (connection refused, timeout); use [`try_request`] to poll a server coming up.
pub fn request(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&str>) -> Response {
    try_request(method, url, headers, body).unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

/// [`request`], with transport errors returned.
pub fn try_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Result<Response, ureq::Error> {
    let mut builder = http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    if body.is_some()
        && !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
    {
        builder = builder.header("content-type", "application/json");
    }
    let request = builder
        .body(body.unwrap_or("").to_string())
        .map_err(ureq::Error::from)?;
    let mut response = agent().run(request)?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = response.body_mut().read_to_string()?;
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// One agent for the whole test process: it keeps connections alive between requests.
fn agent() -> &'static ureq::Agent {
    static AGENT: OnceLock<ureq::Agent> = OnceLock::new();
    AGENT.get_or_init(|| {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into()
    })
}
