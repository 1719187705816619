import JobControl
import JobControlProtocol

/// The OpenAPI 3.0 document of `/api/v1`, generated from io.jobcontrol.Manager's interface
/// description: every method is `POST /api/v1/METHOD` with its parameters as the JSON body and
/// its reply as the answer; methods that only read are also `GET` with scalar parameters in
/// the query, and `GetLogs`/`GetProgress` stream Server-Sent Events with `follow=1`.
enum OpenAPIDocument {
    /// Methods that stream with `follow=1` (Varlink's `more`).
    static let streaming: Set<String> = ["GetLogs", "GetProgress"]

    static func make(version: String) -> JSONValue {
        // The interface text is ours and is parsed by a unit test; a failure here is a bug.
        guard let idl = try? VarlinkIDL(parsing: Interfaces.managerDescription) else { return .null }
        var paths: [String: JSONValue] = [:]
        for method in idl.methods {
            let required = ControlService.requiredLevel[method.name] ?? .admin
            var operations: [String: JSONValue] = [:]
            let replies = responses(method)
            operations["post"] = .object([
                "operationId": .string(method.name),
                "summary": .string(method.doc),
                "description": .string("Needs '\(required)' access. The same as Varlink \(idl.name).\(method.name)."),
                "requestBody": .object([
                    "required": false,
                    "content": .object(["application/json": .object(["schema": schema(of: .structure(method.input))])]),
                ]),
                "responses": replies,
            ])
            if required == .read {
                var parameters: [JSONValue] = method.input.compactMap { field in
                    guard let scalar = queryType(field.type) else { return nil }
                    return .object([
                        "name": .string(field.name), "in": "query",
                        "required": .bool(!isOptional(field.type)),
                        "description": .string(field.doc),
                        "schema": scalar,
                    ])
                }
                if streaming.contains(method.name) {
                    parameters.append(
                        .object([
                            "name": "follow", "in": "query", "required": false,
                            "description":
                                "1: follow the build as Server-Sent Events (one `reply` event per Varlink reply, then `end`)",
                            "schema": .object(["type": "string", "enum": ["1"]]),
                        ]))
                }
                var get: [String: JSONValue] = [
                    "operationId": .string("get\(method.name)"),
                    "summary": .string(method.doc),
                    "parameters": .array(parameters),
                    "responses": replies,
                ]
                if streaming.contains(method.name), case .object(var answers) = replies,
                    case .object(var ok)? = answers["200"], case .object(var content)? = ok["content"]
                {
                    content["text/event-stream"] = .object(["schema": .object(["type": "string"])])
                    ok["content"] = .object(content)
                    answers["200"] = .object(ok)
                    get["responses"] = .object(answers)
                }
                operations["get"] = .object(get)
            }
            paths["/api/v1/\(method.name)"] = .object(operations)
        }
        paths["/api/v1/events/running"] = .object([
            "get": .object([
                "operationId": "followRunning",
                "summary": "Running builds with their progress, as a Server-Sent Event `running` every second.",
                "responses": .object([
                    "200": .object([
                        "description": "a stream of events",
                        "content": .object(["text/event-stream": .object(["schema": .object(["type": "string"])])]),
                    ])
                ]),
            ])
        ])
        var schemas: [String: JSONValue] = [:]
        for type in idl.types {
            if let definition = type.type {
                var value = schema(of: definition)
                if case .object(var object) = value {
                    object["description"] = .string(type.doc)
                    value = .object(object)
                }
                schemas[type.name] = value
            }
        }
        schemas["Error"] = .object([
            "type": "object",
            "required": ["error", "message"],
            "properties": .object([
                "error": .object([
                    "type": "string", "description": "the Varlink error's name, as io.jobcontrol.Manager.NoSuchJob",
                ]),
                "message": .object(["type": "string", "description": "what went wrong and what to do"]),
                "parameters": .object(["type": "object", "description": "the Varlink error's parameters"]),
            ]),
        ])
        return .object([
            "openapi": "3.0.3",
            "info": .object([
                "title": "JobControl API",
                "version": .string(version),
                "description": .string(
                    "The methods of Varlink \(idl.name) over HTTP. \(idl.doc) Authenticate with `Authorization: Bearer TOKEN` (the tokens of `http:` in the daemon's configuration)."
                ),
            ]),
            "servers": [.object(["url": "/"])],
            "security": [.object(["bearer": []])],
            "paths": .object(paths),
            "components": .object([
                "schemas": .object(schemas),
                "securitySchemes": .object(["bearer": .object(["type": "http", "scheme": "bearer"])]),
            ]),
        ])
    }

    static func responses(_ method: VarlinkIDL.Member) -> JSONValue {
        let error: JSONValue = .object([
            "description":
                "a Varlink error (400 bad parameter, 401 no token, 403 not allowed, 404 not found, 409 conflict, 503 unavailable)",
            "content": .object(["application/json": .object(["schema": ref("Error")])]),
        ])
        return .object([
            "200": .object([
                "description": "the reply's parameters",
                "content": .object(["application/json": .object(["schema": schema(of: .structure(method.output))])]),
            ]),
            "default": error,
        ])
    }

    static func ref(_ name: String) -> JSONValue { .object(["$ref": .string("#/components/schemas/\(name)")]) }

    static func isOptional(_ type: VarlinkIDL.FieldType) -> Bool {
        if case .optional = type { return true }
        return false
    }

    /// The schema of a query parameter: scalars only (others go in a POST body).
    static func queryType(_ type: VarlinkIDL.FieldType) -> JSONValue? {
        switch type {
        case .optional(let inner): return queryType(inner)
        case .bool, .int, .float, .string, .enumeration: return schema(of: type)
        default: return nil
        }
    }

    static func schema(of type: VarlinkIDL.FieldType) -> JSONValue {
        switch type {
        case .bool: return .object(["type": "boolean"])
        case .int: return .object(["type": "integer", "format": "int64"])
        case .float: return .object(["type": "number"])
        case .string: return .object(["type": "string"])
        case .object: return .object(["description": "any JSON value"])
        case .named(let name): return ref(name)
        case .optional(let inner):
            // OpenAPI 3.0 cannot mark a $ref nullable beside it; allOf carries it.
            if case .named(let name) = inner { return .object(["nullable": true, "allOf": [ref(name)]]) }
            guard case .object(var object) = schema(of: inner) else { return schema(of: inner) }
            object["nullable"] = true
            return .object(object)
        case .array(let element): return .object(["type": "array", "items": schema(of: element)])
        case .map(let element): return .object(["type": "object", "additionalProperties": schema(of: element)])
        case .enumeration(let values): return .object(["type": "string", "enum": .array(values.map { .string($0) })])
        case .structure(let fields):
            var properties: [String: JSONValue] = [:]
            for field in fields {
                var value = schema(of: field.type)
                if !field.doc.isEmpty, case .object(var object) = value, object["$ref"] == nil {
                    object["description"] = .string(field.doc)
                    value = .object(object)
                }
                properties[field.name] = value
            }
            var object: [String: JSONValue] = ["type": "object", "properties": .object(properties)]
            let required = fields.filter { !isOptional($0.type) }.map { JSONValue.string($0.name) }
            if !required.isEmpty { object["required"] = .array(required) }
            return .object(object)
        }
    }
}
