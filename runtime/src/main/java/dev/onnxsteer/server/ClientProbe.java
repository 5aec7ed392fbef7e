package dev.onnxsteer.server;

import io.javalin.http.Context;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import org.eclipse.jetty.server.internal.HttpConnection;

/**
 * Finds out whether the client of a non-streaming request has closed its connection while the
 * request waits for its generation. Jetty does not read from an HTTP/1.1 connection while its
 * request is handled, so nothing reports a client that silently goes away until the server
 * writes; this probe reads the socket itself, without blocking: end of stream (or a reset)
 * means the client has gone. The request body has been read by then, so any byte that does
 * arrive starts a pipelined next request: it is handed back to the connection and probing stops.
 * Only plain HTTP/1.1 sockets are probed; a client that half-closes its side (shutdownOutput)
 * after sending the request looks gone too.
 */
final class ClientProbe {
    private final HttpConnection connection;
    private final SocketChannel channel;
    private boolean done;

    private ClientProbe(HttpConnection connection, SocketChannel channel) {
        this.connection = connection;
        this.channel = channel;
    }

    /** A probe for this request's connection, or null where it cannot be probed (TLS, HTTP/2, tests without Jetty). */
    static ClientProbe of(Context ctx) {
        try {
            org.eclipse.jetty.server.Request request = coreRequest(ctx);
            if (request != null
                    && request.getConnectionMetaData().getConnection() instanceof HttpConnection http
                    && http.getEndPoint() instanceof org.eclipse.jetty.io.SocketChannelEndPoint endPoint
                    && endPoint.getConnection() == http) {
                return new ClientProbe(http, endPoint.getChannel());
            }
        } catch (RuntimeException e) {
            // no probe: the request runs until done or timed out
        }
        return null;
    }

    /** Runs {@code action} if Jetty reports that this request failed (a failed write, for one). */
    static void onClientGone(Context ctx, Runnable action) {
        org.eclipse.jetty.server.Request request = coreRequest(ctx);
        if (request != null) {
            request.addFailureListener(failure -> action.run());
        }
    }

    private static org.eclipse.jetty.server.Request coreRequest(Context ctx) {
        jakarta.servlet.ServletRequest request = ctx.req();
        while (request instanceof jakarta.servlet.ServletRequestWrapper wrapper) {
            request = wrapper.getRequest();
        }
        return request instanceof org.eclipse.jetty.ee10.servlet.ServletApiRequest api ? api.getRequest() : null;
    }

    /** True once the client's side of the connection is closed. */
    boolean clientGone() {
        if (done || !connection.isRequestBufferEmpty()) {
            return false; // a pipelined request is already buffered: the client is there
        }
        ByteBuffer one = ByteBuffer.allocate(1);
        int n;
        try {
            n = channel.read(one); // the channel is non-blocking (Jetty's selector owns it)
        } catch (IOException e) {
            done = true;
            return true; // reset by the client, or closed
        }
        if (n < 0) {
            done = true;
            return true;
        }
        if (n > 0) {
            one.flip();
            connection.onUpgradeTo(one); // the first byte of a pipelined request: give it back
            done = true;
        }
        return false;
    }
}
