/** JSON schemas shared by the API's routes (plain JSON Schema built with TypeBox). */
import Type from 'typebox';

export const ErrorReply = Type.Object(
  {
    statusCode: Type.Integer(),
    error: Type.String({ description: 'The HTTP status text' }),
    message: Type.String({ description: 'What went wrong; for bad input, the field and the reason' }),
    problems: Type.Optional(Type.Array(Type.Object({ path: Type.String({ description: 'e.g. body.events[2], query.limit' }), message: Type.String() }), { description: 'Every problem of a refused request' })),
  },
  { $id: 'Error' },
);

export const EventObject = Type.Record(Type.String(), Type.Unknown(), { description: 'A flat event with IntelMQ keys, e.g. {"source.ip": "192.0.2.1", "classification.type": "scanner"}' });

export const errors = { 400: ErrorReply, 401: ErrorReply, 403: ErrorReply, 404: ErrorReply, 429: ErrorReply } as const;

export const Ok = Type.Object({ ok: Type.Boolean() });
