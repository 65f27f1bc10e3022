//! The one WebSocket client of the tests, the bench and the load generator (feature `ws`).
//!
//! [`Connect`] opens a socket to chatd's `/api/v1/ws` (bearer token or session cookie, an optional
//! resume cursor, an optional small receive buffer) and reads its `hello`. [`Socket`] is what
//! tests drive: JSON frames in and out, each read bounded by [`WAIT`], frames of one type picked
//! out of the stream without losing the others, and how the socket ended.
//!
//! Tools that only need the handshake (the load generator reads frames its own, cheaper way) call
//! [`Connect::open_raw`] and get the bare stream.

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub use tokio_tungstenite::tungstenite::Message;

/// An open WebSocket to the service.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a handshake, a hello or the next frame may take before the wait counts as a failure.
pub const WAIT: Duration = Duration::from_secs(10);

/// Bytes read from the socket at a time (a bigger frame is still read whole, in several reads).
const READ_BUFFER_BYTES: usize = 8 * 1024;

/// What a socket to open looks like; [`Connect::open`] opens it.
#[derive(Debug, Clone)]
pub struct Connect {
    /// `ws://host:port/api/v1/ws`, with `?after=` added when resuming.
    url: String,
    /// A session's bearer token.
    token: Option<String>,
    cookie: Option<String>,
    origin: Option<String>,
    after: Option<i64>,
    receive_buffer: Option<u32>,
}

impl Connect {
    /// A socket to the service at `base` (`http://host:port`, or already `ws://host:port`),
    /// without credentials until [`bearer`](Self::bearer) or [`cookie`](Self::cookie) add some.
    pub fn new(base: &str) -> Self {
        let base = base.trim_end_matches('/');
        let base = match base.strip_prefix("http://") {
            Some(rest) => format!("ws://{rest}"),
            None => base.to_owned(),
        };
        Self {
            url: format!("{base}/api/v1/ws"),
            token: None,
            cookie: None,
            origin: None,
            after: None,
            receive_buffer: None,
        }
    }

    /// Authenticates with a session's bearer token, as API clients do.
    pub fn bearer(mut self, token: &str) -> Self {
        self.token = Some(token.to_owned());
        self
    }

    /// Authenticates with a `session=...` cookie, as a browser tab does (which also sends an
    /// [`origin`](Self::origin)).
    pub fn cookie(mut self, cookie: &str) -> Self {
        self.cookie = Some(cookie.to_owned());
        self
    }

    /// The page's origin, which the service checks for cookie-authenticated upgrades.
    pub fn origin(mut self, origin: &str) -> Self {
        self.origin = Some(origin.to_owned());
        self
    }

    /// Resumes after durable frame `cursor`: what came after it is replayed before live frames.
    pub fn after(mut self, cursor: Option<i64>) -> Self {
        self.after = cursor;
        self
    }

    /// Shrinks the kernel's receive buffer to `bytes`: a client that does not read then fills up
    /// after a few frames, which makes a slow client cheaply.
    pub fn receive_buffer(mut self, bytes: u32) -> Self {
        self.receive_buffer = Some(bytes);
        self
    }

    /// Opens the socket and reads its hello.
    pub async fn open(&self) -> anyhow::Result<Socket> {
        let (ws, hello) = self.open_raw().await?;
        Ok(Socket {
            ws,
            hello,
            cursor: 0,
            unread: VecDeque::new(),
        })
    }

    /// Opens the socket and reads its hello, handing over the bare stream: for callers that read
    /// frames their own way.
    pub async fn open_raw(&self) -> anyhow::Result<(Ws, Value)> {
        let mut ws = tokio::time::timeout(WAIT, self.upgrade())
            .await
            .map_err(|_| anyhow::anyhow!("no WebSocket within {WAIT:?}"))??;
        let hello = match next_text(&mut ws).await? {
            Some(text) => serde_json::from_str::<Value>(&text)?,
            None => anyhow::bail!("the socket ended before its hello"),
        };
        anyhow::ensure!(hello["type"] == "hello", "first frame: {hello}");
        Ok((ws, hello))
    }

    /// The status of the HTTP upgrade: 101 when the service accepts it, else its refusal.
    pub async fn status(&self) -> anyhow::Result<u16> {
        use tokio_tungstenite::tungstenite::Error;
        let upgraded = tokio::time::timeout(WAIT, self.upgrade())
            .await
            .map_err(|_| anyhow::anyhow!("no answer to the upgrade within {WAIT:?}"))?;
        match upgraded {
            Ok(_) => Ok(101),
            Err(error) => match error.downcast_ref::<Error>() {
                Some(Error::Http(response)) => Ok(response.status().as_u16()),
                _ => Err(error),
            },
        }
    }

    /// The TCP connection (Nagle off: frames are small and latency is measured) and the upgrade.
    async fn upgrade(&self) -> anyhow::Result<Ws> {
        let url = match self.after {
            Some(after) => format!("{}?after={after}", self.url),
            None => self.url.clone(),
        };
        let mut request = url.into_client_request()?;
        let headers = request.headers_mut();
        if let Some(token) = &self.token {
            headers.insert("Authorization", format!("Bearer {token}").parse()?);
        }
        if let Some(cookie) = &self.cookie {
            headers.insert("Cookie", cookie.parse()?);
        }
        if let Some(origin) = &self.origin {
            headers.insert("Origin", origin.parse()?);
        }
        let uri = request.uri();
        anyhow::ensure!(uri.scheme_str() == Some("ws"), "not a ws:// URL: {uri}");
        let host = uri.host().unwrap_or_default().to_owned();
        let port = uri.port_u16().unwrap_or(80);
        let address = tokio::net::lookup_host((host.as_str(), port))
            .await?
            .next()
            .ok_or_else(|| anyhow::anyhow!("{host} has no address"))?;
        let tcp = if address.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if let Some(bytes) = self.receive_buffer {
            tcp.set_recv_buffer_size(bytes)?;
        }
        let stream = tcp.connect(address).await?;
        stream.set_nodelay(true)?;
        // tungstenite zeroes its whole read buffer (128 KiB by default) before every read: for the
        // load generator, reading a 1,000-member group's fan-out (a small frame per read), that
        // memset was a third of its CPU.
        let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES);
        let (ws, _) = tokio_tungstenite::client_async_with_config(
            request,
            MaybeTlsStream::Plain(stream),
            Some(config),
        )
        .await?;
        Ok(ws)
    }
}

/// The next text frame within [`WAIT`]; `None` if the socket ended cleanly. Pings are answered
/// by the library while it reads.
async fn next_text(ws: &mut Ws) -> anyhow::Result<Option<String>> {
    loop {
        let message = tokio::time::timeout(WAIT, ws.next())
            .await
            .map_err(|_| anyhow::anyhow!("no frame within {WAIT:?}"))?;
        match message {
            None => return Ok(None),
            Some(message) => match message? {
                Message::Text(text) => return Ok(Some(text.as_str().to_owned())),
                Message::Close(frame) => anyhow::bail!("closed: {frame:?}"),
                _ => continue,
            },
        }
    }
}

/// How a socket ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// The service closed it, with this close code if it gave one.
    Closed(Option<u16>),
    /// The connection broke or ended without a close frame.
    Dropped,
}

/// An open socket with its hello read.
pub struct Socket {
    ws: Ws,
    hello: Value,
    /// The cursor of the last durable frame received (what a reconnecting client resumes after).
    cursor: i64,
    /// Frames received but not yet handed out: [`Socket::next_of`] and [`Socket::assert_no`]
    /// read past frames of other types, which a later read must still see (an ack may arrive
    /// before or after the sender's own copy of the message, and a test waits for both).
    unread: VecDeque<Value>,
}

impl Socket {
    /// The `hello` frame the socket opened with.
    pub fn hello(&self) -> &Value {
        &self.hello
    }

    /// The cursor of the last durable frame received, to resume after.
    pub fn cursor(&self) -> i64 {
        self.cursor
    }

    /// Sends a JSON frame.
    pub async fn send(&mut self, frame: Value) -> anyhow::Result<()> {
        self.send_message(Message::Text(frame.to_string().into()))
            .await
    }

    /// Sends any WebSocket message (a frame that is not JSON, a binary one, one too large).
    pub async fn send_message(&mut self, message: Message) -> anyhow::Result<()> {
        self.ws.send(message).await?;
        Ok(())
    }

    /// The next frame, oldest unread first; fails after [`WAIT`] without one, or if the socket
    /// ends.
    pub async fn next(&mut self) -> anyhow::Result<Value> {
        match self.unread.pop_front() {
            Some(frame) => Ok(frame),
            None => self.receive().await,
        }
    }

    /// The next frame of type `kind`; frames of other types (presence, typing, the sender's own
    /// copy of a message...) stay unread for later reads.
    pub async fn next_of(&mut self, kind: &str) -> anyhow::Result<Value> {
        if let Some(at) = self.unread.iter().position(|f| f["type"] == kind) {
            if let Some(frame) = self.unread.remove(at) {
                return Ok(frame);
            }
        }
        loop {
            let frame = self.receive().await?;
            if frame["type"] == kind {
                return Ok(frame);
            }
            self.unread.push_back(frame);
        }
    }

    /// Every frame up to the first that `last` matches, which is left out (unread ones first).
    /// With a frame the service sends after everything else of interest as `last`, this proves
    /// what a socket did not get without waiting out a quiet period: frames reach a socket in
    /// the order of the log.
    pub async fn frames_until(
        &mut self,
        last: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Vec<Value>> {
        let mut before = Vec::new();
        loop {
            let frame = self.next().await?;
            if last(&frame) {
                return Ok(before);
            }
            before.push(frame);
        }
    }

    /// Bodies of the next `n` new messages.
    pub async fn bodies(&mut self, n: usize) -> anyhow::Result<Vec<String>> {
        let mut bodies = Vec::with_capacity(n);
        while bodies.len() < n {
            let frame = self.next_of("message.new").await?;
            let body = frame["message"]["body"]
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("a new message without a body: {frame}"))?;
            bodies.push(body.to_owned());
        }
        Ok(bodies)
    }

    /// Fails if a frame of type `kind` is unread or arrives within `quiet`; other frames stay
    /// unread. Reading meanwhile also answers the service's pings.
    pub async fn assert_no(&mut self, kind: &str, quiet: Duration) -> anyhow::Result<()> {
        if let Some(frame) = self.unread.iter().find(|f| f["type"] == kind) {
            anyhow::bail!("unexpected {frame}");
        }
        let deadline = tokio::time::Instant::now() + quiet;
        loop {
            let message = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return Ok(()),
                Ok(None) => anyhow::bail!("socket ended"),
                Ok(Some(message)) => message?,
            };
            match message {
                Message::Text(text) => {
                    let frame = self.remember(text.as_str())?;
                    anyhow::ensure!(frame["type"] != kind, "unexpected {frame}");
                    self.unread.push_back(frame);
                }
                Message::Close(frame) => anyhow::bail!("closed: {frame:?}"),
                _ => {}
            }
        }
    }

    /// Reads until the socket ends; how it ended, and how many new messages arrived before
    /// (unread ones included). Fails if it is still open after [`WAIT`] without a frame.
    pub async fn until_end(&mut self) -> anyhow::Result<(End, usize)> {
        let mut messages = self
            .unread
            .drain(..)
            .filter(|f| f["type"] == "message.new")
            .count();
        loop {
            let message = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .map_err(|_| anyhow::anyhow!("still open after {WAIT:?} without a frame"))?;
            match message {
                Some(Ok(Message::Text(text))) => {
                    if self.remember(text.as_str())?["type"] == "message.new" {
                        messages += 1;
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    return Ok((End::Closed(frame.map(|f| u16::from(f.code))), messages))
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Ok((End::Dropped, messages)),
            }
        }
    }

    /// Fails unless the service closes the socket with `code`.
    pub async fn expect_close(&mut self, code: u16) -> anyhow::Result<()> {
        let (end, _) = self.until_end().await?;
        anyhow::ensure!(
            end == End::Closed(Some(code)),
            "expected a close with {code}, got {end:?}"
        );
        Ok(())
    }

    /// Reads one frame off the wire.
    async fn receive(&mut self) -> anyhow::Result<Value> {
        match next_text(&mut self.ws).await? {
            Some(text) => self.remember(&text),
            None => anyhow::bail!("socket ended"),
        }
    }

    /// Parses a received frame and remembers its cursor if it is durable.
    fn remember(&mut self, text: &str) -> anyhow::Result<Value> {
        let frame: Value =
            serde_json::from_str(text).map_err(|e| anyhow::anyhow!("not JSON ({e}): {text}"))?;
        if let Some(cursor) = frame["cursor"].as_i64() {
            self.cursor = cursor;
        }
        Ok(frame)
    }
}
