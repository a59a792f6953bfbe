/**
 * gRPC server reflection (grpc.reflection.v1 and its older name v1alpha), so
 * grpcurl, grpcui and dynamic clients can discover the API. protobuf-es
 * embeds each file's descriptor in the generated code; we serve those.
 *
 * Each request gets one response: a file and all of its imports (the
 * protocol allows skipping files sent earlier on the same stream; sending
 * them again is simpler and always correct), the service list, or an error
 * response (NOT_FOUND) for an unknown name.
 */
import {
  create,
  createRegistry,
  fromBinary,
  toBinary,
  type DescFile,
  type DescService,
  type MessageInitShape,
  type Registry,
} from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, type ServiceImpl } from "@connectrpc/connect";
import {
  ServerReflectionRequestSchema,
  ServerReflectionResponseSchema,
  type ServerReflection,
  type ServerReflectionRequest,
} from "../gen/grpc/reflection/v1/reflection_pb.js";
import {
  ServerReflectionRequestSchema as AlphaRequestSchema,
  ServerReflectionResponseSchema as AlphaResponseSchema,
  type ServerReflection as AlphaServerReflection,
} from "../gen/grpc/reflection/v1alpha/reflection_pb.js";

type Response = MessageInitShape<typeof ServerReflectionResponseSchema>;

/** What the reflection service knows: the services offered and their files. */
export class ReflectionIndex {
  readonly #services: readonly string[];
  readonly #files = new Map<string, DescFile>();
  readonly #registry: Registry;

  constructor(services: readonly DescService[]) {
    this.#services = services.map((s) => s.typeName);
    const add = (file: DescFile): void => {
      if (this.#files.has(file.proto.name)) return;
      this.#files.set(file.proto.name, file);
      file.dependencies.forEach(add);
    };
    services.forEach((s) => {
      add(s.file);
    });
    this.#registry = createRegistry(...this.#files.values());
  }

  get services(): readonly string[] {
    return this.#services;
  }

  /** The file declaring a fully-qualified symbol: a type, a service, a
   * method, a field or an enum value. */
  fileContainingSymbol(symbol: string): DescFile | undefined {
    const name = symbol.startsWith(".") ? symbol.slice(1) : symbol;
    const direct = this.#registry.get(name);
    if (direct !== undefined) return direct.file;
    const dot = name.lastIndexOf(".");
    if (dot < 0) return undefined;
    const parent = this.#registry.get(name.slice(0, dot));
    const member = name.slice(dot + 1);
    switch (parent?.kind) {
      case "service":
        return parent.methods.some((m) => m.name === member) ? parent.file : undefined;
      case "message":
        return parent.fields.some((f) => f.name === member) ? parent.file : undefined;
      case "enum":
        return parent.values.some((v) => v.name === member) ? parent.file : undefined;
      default:
        return undefined;
    }
  }

  fileByName(name: string): DescFile | undefined {
    return this.#files.get(name);
  }

  /** The file first, then every file it imports, transitively, each once. */
  withDependencies(file: DescFile): Uint8Array[] {
    const seen = new Set<string>();
    const out: Uint8Array[] = [];
    const visit = (f: DescFile): void => {
      if (seen.has(f.proto.name)) return;
      seen.add(f.proto.name);
      out.push(toBinary(FileDescriptorProtoSchema, f.proto));
      f.dependencies.forEach(visit);
    };
    visit(file);
    return out;
  }

  /** The answer to one reflection request. */
  answer(request: ServerReflectionRequest): Response {
    const base = { validHost: request.host, originalRequest: request };
    const files = (file: DescFile | undefined, what: string): Response =>
      file === undefined
        ? { ...base, messageResponse: notFound(what) }
        : {
            ...base,
            messageResponse: {
              case: "fileDescriptorResponse",
              value: { fileDescriptorProto: this.withDependencies(file) },
            },
          };
    const r = request.messageRequest;
    switch (r.case) {
      case "listServices":
        return {
          ...base,
          messageResponse: {
            case: "listServicesResponse",
            value: { service: this.#services.map((name) => ({ name })) },
          },
        };
      case "fileByFilename":
        return files(this.fileByName(r.value), `file ${JSON.stringify(r.value)}`);
      case "fileContainingSymbol":
        return files(this.fileContainingSymbol(r.value), `symbol ${JSON.stringify(r.value)}`);
      case "fileContainingExtension":
        // No file we serve declares extensions.
        return {
          ...base,
          messageResponse: notFound(
            `extension ${r.value.extensionNumber} of ${JSON.stringify(r.value.containingType)}`,
          ),
        };
      case "allExtensionNumbersOfType": {
        const type = this.#registry.getMessage(
          r.value.startsWith(".") ? r.value.slice(1) : r.value,
        );
        return type === undefined
          ? { ...base, messageResponse: notFound(`type ${JSON.stringify(r.value)}`) }
          : {
              ...base,
              messageResponse: {
                case: "allExtensionNumbersResponse",
                value: { baseTypeName: type.typeName, extensionNumber: [] },
              },
            };
      }
      case undefined:
        return {
          ...base,
          messageResponse: {
            case: "errorResponse",
            value: {
              errorCode: Code.InvalidArgument,
              errorMessage: "the request asks for nothing",
            },
          },
        };
    }
  }
}

function notFound(what: string): NonNullable<Response["messageResponse"]> {
  return {
    case: "errorResponse",
    value: { errorCode: Code.NotFound, errorMessage: `${what} not found` },
  };
}

export function createReflectionService(
  index: ReflectionIndex,
): ServiceImpl<typeof ServerReflection> {
  return {
    async *serverReflectionInfo(requests) {
      for await (const request of requests) yield index.answer(request);
    },
  };
}

/** v1alpha has the same messages on the wire under another package name:
 * translate through the binary form and answer as v1. */
export function createReflectionAlphaService(
  index: ReflectionIndex,
): ServiceImpl<typeof AlphaServerReflection> {
  return {
    async *serverReflectionInfo(requests) {
      for await (const alpha of requests) {
        const request = fromBinary(
          ServerReflectionRequestSchema,
          toBinary(AlphaRequestSchema, alpha),
        );
        const response = toBinary(
          ServerReflectionResponseSchema,
          create(ServerReflectionResponseSchema, index.answer(request)),
        );
        yield fromBinary(AlphaResponseSchema, response);
      }
    },
  };
}
