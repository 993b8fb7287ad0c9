import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

/** The gRPC tests' one service: `lbtest.Echo`, a unary and a server-streaming method. */
const dir = mkdtempSync(join(tmpdir(), 'lb-grpc-echo-'));
writeFileSync(join(dir, 'echo.proto'), `syntax = "proto3";
package lbtest;
service Echo {
  rpc Unary (Msg) returns (Msg);
  rpc Stream (Msg) returns (stream Msg);
}
message Msg { string text = 1; }
`);

export interface Msg { text: string }

export type EchoClient = grpc.Client & {
  Unary(msg: Msg, metadata: grpc.Metadata, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Msg) => void): grpc.ClientUnaryCall;
  Stream(msg: Msg, metadata?: grpc.Metadata): grpc.ClientReadableStream<Msg>;
};

/** The Echo service's client constructor and definition (`echo.service` for a server). */
export const echo = (grpc.loadPackageDefinition(loadSync(join(dir, 'echo.proto'))).lbtest as grpc.GrpcObject).Echo as grpc.ServiceClientConstructor;
