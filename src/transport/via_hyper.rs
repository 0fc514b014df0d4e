//! The same pool over hyper's HTTP/2 client connection instead of h2 driven directly, kept
//! only so the benchmark can measure the two side by side (see the transport's docs for
//! the figures that decided it). No health checks, no resends of refused streams.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tonic::body::Body;

use super::connect::ConnectFailed;
use super::connection::{Conn, SendFailed};

/// `connection::send_on` over hyper's client connection: hyper sends the body and awaits
/// the answer in tasks of its own, and hands back a request it did not send.
pub(super) async fn send_on(
    conn: &Conn,
    mut send: hyper::client::conn::http2::SendRequest<Body>,
    request: http::Request<Body>,
) -> Result<http::Response<Body>, SendFailed> {
    let unsent = |e: hyper::Error| {
        conn.mark_closed();
        super::status::status(
            tonic::Code::Unavailable,
            format!("the connection ended: {e}"),
            false,
            Some(Arc::new(e)),
        )
    };
    if let Err(e) = send.ready().await {
        return Err(SendFailed::Unsent(Box::new(request), unsent(e)));
    }
    match send.try_send_request(request).await {
        Ok(response) => Ok(response.map(Body::new)),
        Err(mut e) => match e.take_message() {
            Some(request) => Err(SendFailed::Unsent(
                Box::new(request),
                unsent(e.into_error()),
            )),
            None => Err(SendFailed::Sent(Box::new(e.into_error()))),
        },
    }
}

/// The HTTP/2 handshake with hyper's client connection, with the same windows as
/// `connection::http2`.
pub(super) async fn http2<IO>(io: IO) -> Result<Conn, ConnectFailed>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (send, connection) =
        hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .initial_stream_window_size(2 << 20)
            .initial_connection_window_size(5 << 20)
            .max_frame_size(16 << 10)
            .max_header_list_size(16 << 10)
            .max_send_buf_size(1 << 20)
            .handshake::<_, Body>(hyper_util::rt::TokioIo::new(io))
            .await
            .map_err(|e| ConnectFailed::new(format!("http/2 handshake: {e}"), Some(e.into())))?;
    let conn = Conn::over_hyper(send);
    let ended = conn.clone();
    tokio::spawn(async move {
        let _ = connection.await;
        ended.mark_closed();
    });
    Ok(conn)
}
