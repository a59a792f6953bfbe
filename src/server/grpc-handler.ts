/**
 * The Node request handler in front of the connect router. It does what
 * connect-node's `connectNodeAdapter` does, with these differences a gRPC
 * server on a shared host needs:
 *
 * - A call whose client went away (a cancelled `logs -f`, a cut connection)
 *   while its response was being written ends quietly, at debug level.
 *   connect-node writes every such call to stderr with console.error
 *   ("handler for rpc StreamOutput … failed … write ECANCELED"): 10,000
 *   dropped streams made 25,000 lines of stack traces outside the JSON log.
 *   A handler failure with the client still there is logged at error.
 * - Every call passes `admit` first, which may refuse it (its connection is
 *   over a cap) or hand it a signal that ends it early (a revocation).
 * - connect-workarounds.ts's entries: undecodable requests are
 *   INVALID_ARGUMENT, a refusal resets a stream the client is still
 *   sending, a write waiting on a reset stream ends the call, and a method
 *   the server does not have is answered UNIMPLEMENTED, not HTTP 404.
 * - A handler may write its messages to the HTTP/2 stream itself
 *   (direct-response.ts): StreamOutput does, without copying the output.
 */
import type { Http2ServerRequest } from "node:http2";
import {
  Code,
  ConnectError,
  createConnectRouter,
  type ConnectRouter,
  type ConnectRouterOptions,
  type ContextValues,
} from "@connectrpc/connect";
import {
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
} from "@connectrpc/connect-node";
import {
  answerAtOnce,
  guardRequests,
  unblockWritesOnClose,
  type NodeHandler,
} from "./connect-workarounds.ts";
import { allowDirectResponse, endDirectResponse } from "./direct-response.ts";
import type { Logger } from "./logger.ts";

export interface GrpcHandlerOptions extends ConnectRouterOptions {
  routes: (router: ConnectRouter) => void;
  /** Values for the handler context (the caller's identity). */
  contextValues: (request: Http2ServerRequest) => ContextValues;
  /** Before routing: an error to answer the call with at once, or a signal
   * whose abort ends the call with its reason. */
  admit: (request: Http2ServerRequest) => ConnectError | AbortSignal;
  logger: Logger;
}

export function createGrpcHandler(options: GrpcHandlerOptions): NodeHandler {
  const { routes, contextValues, admit, logger, ...routerOptions } = options;
  const router = createConnectRouter(routerOptions);
  routes(router);
  const byPath = new Map(router.handlers.map((handler) => [handler.requestPath, handler]));
  return guardRequests((request, response) => {
    const admission = admit(request);
    if (admission instanceof ConnectError) {
      answerAtOnce(request, admission);
      return;
    }
    const path = request.url.split("?", 1)[0] ?? "";
    const handler = byPath.get(path);
    if (handler === undefined) {
      answerAtOnce(
        request,
        new ConnectError(`unknown method ${path.slice(0, 200)}`, Code.Unimplemented),
      );
      return;
    }
    unblockWritesOnClose(response);
    const values = contextValues(request);
    allowDirectResponse(values, request, response);
    const universal = universalRequestFromNodeRequest(request, response, undefined, values);
    // connect links the request's signal into the handler's context signal.
    handler({ ...universal, signal: AbortSignal.any([universal.signal, admission]) })
      .then(async (answer) => {
        // Sent: the handler wrote its messages itself (direct-response.ts).
        if (response.headersSent) await endDirectResponse(answer, response);
        else await universalResponseToNodeResponse(answer, response);
      })
      .catch((err: unknown) => {
        const fields = { method: path, reason: ConnectError.from(err).message };
        if (clientGone(request)) logger.debug(fields, "call ended: the client went away");
        else logger.error(fields, "call failed while its response was written");
      });
  });
}

/** The client reset the stream, or the connection under it is gone. */
function clientGone(request: Http2ServerRequest): boolean {
  return request.aborted || request.stream.closed || request.stream.destroyed;
}
