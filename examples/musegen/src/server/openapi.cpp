#include "openapi.hpp"

namespace musegen::server {

// Kept by hand next to the routes (server.cpp) and the request's checks (request.hpp): the
// ranges here are those constants. Objects are closed (additionalProperties: false) so that
// a field added to a response without being added here fails the tests' schema check
// (tests/musegen/test_server.cpp).
const char* openapi_document() {
  return R"json({
  "openapi": "3.0.3",
  "info": {
    "title": "musegen serve",
    "version": "1",
    "description": "Generate music with the models trained by musegen train: list the models, start a generation (a job), follow it, and fetch the piece as MIDI, WAV and a piano roll (SVG). Errors are JSON objects naming the request's field and the values it takes."
  },
  "paths": {
    "/api/openapi.json": {
      "get": {
        "summary": "This document",
        "operationId": "getOpenApi",
        "responses": {
          "200": {"description": "The OpenAPI document", "content": {"application/json": {"schema": {"type": "object"}}}}
        }
      }
    },
    "/api/models": {
      "get": {
        "summary": "The trained runs found under --runs",
        "operationId": "listModels",
        "responses": {
          "200": {
            "description": "Every run, sorted by name",
            "content": {"application/json": {"schema": {
              "type": "object", "additionalProperties": false, "required": ["models"],
              "properties": {"models": {"type": "array", "items": {"$ref": "#/components/schemas/Model"}}}
            }}}
          }
        }
      }
    },
    "/api/models/{id}": {
      "parameters": [{"$ref": "#/components/parameters/Id"}],
      "get": {
        "summary": "One model",
        "operationId": "getModel",
        "responses": {
          "200": {"description": "The model", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Model"}}}},
          "404": {"$ref": "#/components/responses/NotFound"}
        }
      }
    },
    "/api/models/{id}/data-metrics": {
      "parameters": [{"$ref": "#/components/parameters/Id"}],
      "get": {
        "summary": "The metrics of the model's own data (its validation split, else its training split), to read a piece's against",
        "operationId": "getDataMetrics",
        "responses": {
          "200": {"description": "Mean, standard deviation and count of each metric", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DataMetrics"}}}},
          "404": {"$ref": "#/components/responses/NotFound"},
          "409": {"$ref": "#/components/responses/Conflict"}
        }
      }
    },
    "/api/models/{id}/primers": {
      "parameters": [{"$ref": "#/components/parameters/Id"}],
      "get": {
        "summary": "The pieces of the model's data a generation may start from (primer.sequence is an index of this list): its validation split, else its training split",
        "operationId": "listPrimers",
        "responses": {
          "200": {"description": "The split and its first 1000 pieces", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Primers"}}}},
          "404": {"$ref": "#/components/responses/NotFound"},
          "409": {"$ref": "#/components/responses/Conflict"}
        }
      }
    },
    "/api/runs": {
      "get": {
        "summary": "The training runs under --runs, those still without weights included, and whether musegen train is writing each now",
        "operationId": "listRuns",
        "responses": {
          "200": {
            "description": "Every run, sorted by name",
            "content": {"application/json": {"schema": {
              "type": "object", "additionalProperties": false, "required": ["runs"],
              "properties": {"runs": {"type": "array", "items": {"$ref": "#/components/schemas/TrainingRun"}}}
            }}}
          }
        }
      }
    },
    "/api/runs/{id}/metrics": {
      "parameters": [
        {"$ref": "#/components/parameters/Id"},
        {"name": "after", "in": "query", "required": false, "description": "Only the rows of later steps (-1: every row); a page that polls passes the last step it has",
         "schema": {"type": "integer", "minimum": -1, "maximum": 9223372036854775807, "default": -1}}
      ],
      "get": {
        "summary": "A run's loss rows (metrics.csv) after a step: the curve of a run in progress, a little more at every poll",
        "operationId": "getRunMetrics",
        "responses": {
          "200": {"description": "The run and its rows", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RunMetrics"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "404": {"$ref": "#/components/responses/NotFound"}
        }
      }
    },
    "/api/generate": {
      "post": {
        "summary": "Start a generation",
        "operationId": "generate",
        "requestBody": {
          "required": true,
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/GenerationRequest"}}}
        },
        "responses": {
          "202": {"$ref": "#/components/responses/JobAccepted"},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "409": {"$ref": "#/components/responses/Conflict"},
          "413": {"$ref": "#/components/responses/TooLarge"},
          "429": {"$ref": "#/components/responses/QueueFull"}
        }
      }
    },
    "/api/jobs/{id}": {
      "parameters": [{"$ref": "#/components/parameters/Id"}],
      "get": {
        "summary": "A job's state and progress",
        "operationId": "getJob",
        "responses": {
          "200": {"description": "The job", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}}},
          "404": {"$ref": "#/components/responses/NotFound"}
        }
      }
    },
    "/api/jobs/{id}/cancel": {
      "parameters": [{"$ref": "#/components/parameters/Id"}],
      "post": {
        "summary": "Cancel a job: a waiting one at once, a running one at its next step",
        "operationId": "cancelJob",
        "responses": {
          "202": {"$ref": "#/components/responses/JobAccepted"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "409": {"$ref": "#/components/responses/Conflict"}
        }
      }
    },
    "/api/pieces": {
      "get": {
        "summary": "The pieces kept under --out, newest first",
        "operationId": "listPieces",
        "responses": {
          "200": {
            "description": "Every piece",
            "content": {"application/json": {"schema": {
              "type": "object", "additionalProperties": false, "required": ["pieces"],
              "properties": {"pieces": {"type": "array", "items": {"$ref": "#/components/schemas/Piece"}}}
            }}}
          }
        }
      }
    },
    "/api/pieces/{id}": {
      "parameters": [{"$ref": "#/components/parameters/Id"}],
      "get": {
        "summary": "One piece: its parameters and metrics",
        "operationId": "getPiece",
        "responses": {
          "200": {"description": "The piece", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Piece"}}}},
          "404": {"$ref": "#/components/responses/NotFound"}
        }
      }
    },
    "/api/pieces/{id}/files/{kind}": {
      "parameters": [
        {"$ref": "#/components/parameters/Id"},
        {"name": "kind", "in": "path", "required": true, "schema": {"type": "string", "enum": ["midi", "wav", "svg"]}}
      ],
      "get": {
        "summary": "A piece's MIDI file, WAV audio or piano roll",
        "operationId": "getPieceFile",
        "responses": {
          "200": {
            "description": "The file",
            "content": {
              "audio/midi": {"schema": {"type": "string", "format": "binary"}},
              "audio/wav": {"schema": {"type": "string", "format": "binary"}},
              "image/svg+xml": {"schema": {"type": "string"}}
            }
          },
          "206": {
            "description": "The byte range asked for (Range header)",
            "content": {
              "audio/midi": {"schema": {"type": "string", "format": "binary"}},
              "audio/wav": {"schema": {"type": "string", "format": "binary"}},
              "image/svg+xml": {"schema": {"type": "string"}}
            }
          },
          "404": {"$ref": "#/components/responses/NotFound"}
        }
      }
    },
    "/api/pieces/{id}/regenerate": {
      "parameters": [{"$ref": "#/components/parameters/Id"}],
      "post": {
        "summary": "Make the piece again from its stored parameters (the same bytes)",
        "operationId": "regeneratePiece",
        "responses": {
          "202": {"$ref": "#/components/responses/JobAccepted"},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "409": {"$ref": "#/components/responses/Conflict"},
          "429": {"$ref": "#/components/responses/QueueFull"}
        }
      }
    }
  },
  "components": {
    "parameters": {
      "Id": {"name": "id", "in": "path", "required": true, "description": "An id from a listing (never a path)", "schema": {"type": "string"}}
    },
    "responses": {
      "JobAccepted": {
        "description": "The job, as GET /api/jobs/{id} gives it",
        "headers": {"Location": {"description": "The job's URL", "schema": {"type": "string"}}},
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}}
      },
      "BadRequest": {"description": "A field is missing, of the wrong type or out of its range", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "NotFound": {"description": "No resource with this id", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "Conflict": {"description": "The resource is not in a state for this (a finished job; a model with new weights)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "TooLarge": {"description": "The body is larger than the server accepts", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "QueueFull": {"description": "Too many jobs are waiting; try again later", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    },
    "schemas": {
      "Error": {
        "type": "object", "additionalProperties": false, "required": ["error"],
        "properties": {
          "error": {"type": "string", "description": "What was expected and what was found"},
          "field": {"type": "string", "description": "The request's field at fault (primer.steps for a nested one)"},
          "allowed": {"type": "string", "description": "The values the field takes"}
        }
      },
      "LossPoint": {
        "type": "object", "additionalProperties": false, "required": ["step", "train_loss", "valid_loss"],
        "properties": {
          "step": {"type": "integer"},
          "train_loss": {"type": "number", "nullable": true},
          "valid_loss": {"type": "number", "nullable": true}
        }
      },
      "TrainingRun": {
        "type": "object", "additionalProperties": false, "required": ["id", "name", "training", "has_weights", "last_step"],
        "properties": {
          "id": {"type": "string", "description": "The model's id once the run has weights"},
          "name": {"type": "string"},
          "training": {"type": "boolean", "description": "A musegen train on this machine holds the run's lock"},
          "has_weights": {"type": "boolean"},
          "last_step": {"type": "integer", "description": "The step of the last row of metrics.csv (0: none yet)"}
        }
      },
      "RunMetrics": {
        "type": "object", "additionalProperties": false, "required": ["id", "name", "training", "has_weights", "last_step", "points", "more"],
        "properties": {
          "id": {"type": "string"},
          "name": {"type": "string"},
          "training": {"type": "boolean"},
          "has_weights": {"type": "boolean"},
          "last_step": {"type": "integer"},
          "points": {"type": "array", "maxItems": 5000, "items": {"$ref": "#/components/schemas/LossPoint"}},
          "more": {"type": "boolean", "description": "More rows follow the last point: ask again with after set to its step"}
        }
      },
      "MetricSummary": {
        "type": "object", "additionalProperties": false, "required": ["mean", "std", "count"],
        "properties": {
          "mean": {"type": "number", "nullable": true},
          "std": {"type": "number", "nullable": true},
          "count": {"type": "integer", "description": "Sequences where the metric is defined"}
        }
      },
      "Primers": {
        "type": "object", "additionalProperties": false, "required": ["model", "split", "total", "primers"],
        "properties": {
          "model": {"type": "string"},
          "split": {"type": "string", "enum": ["valid", "train"]},
          "total": {"type": "integer", "description": "Pieces in the split (the list holds the first 1000)"},
          "primers": {"type": "array", "items": {
            "type": "object", "additionalProperties": false, "required": ["index", "name", "steps"],
            "properties": {
              "index": {"type": "integer", "description": "primer.sequence to start from this piece"},
              "name": {"type": "string", "description": "Its file name, and what preprocess did to it (\"x.mid transposed +2\")"},
              "steps": {"type": "integer", "description": "Its length in tokens or frames"}
            }
          }}
        }
      },
      "DataMetrics": {
        "type": "object", "additionalProperties": false, "required": ["model", "split", "sequences", "metrics"],
        "properties": {
          "model": {"type": "string"},
          "split": {"type": "string", "enum": ["valid", "train"]},
          "sequences": {"type": "integer", "description": "How many sequences were measured (at most 200, spread over the split)"},
          "metrics": {
            "type": "object", "additionalProperties": false,
            "required": ["note_count", "pitch_range", "pitch_classes_used", "polyphony", "scale_consistency",
                         "repeated_ngram_share", "longest_repeat_run", "empty_bar_share", "mean_note_length",
                         "polyphonic_onset_share", "repetitions", "pitch_classes_per_bar", "qualified_note_share"],
            "properties": {
              "note_count": {"$ref": "#/components/schemas/MetricSummary"},
              "pitch_range": {"$ref": "#/components/schemas/MetricSummary"},
              "pitch_classes_used": {"$ref": "#/components/schemas/MetricSummary"},
              "polyphony": {"$ref": "#/components/schemas/MetricSummary"},
              "scale_consistency": {"$ref": "#/components/schemas/MetricSummary"},
              "repeated_ngram_share": {"$ref": "#/components/schemas/MetricSummary"},
              "longest_repeat_run": {"$ref": "#/components/schemas/MetricSummary"},
              "empty_bar_share": {"$ref": "#/components/schemas/MetricSummary"},
              "mean_note_length": {"$ref": "#/components/schemas/MetricSummary"},
              "polyphonic_onset_share": {"$ref": "#/components/schemas/MetricSummary"},
              "repetitions": {"$ref": "#/components/schemas/MetricSummary"},
              "pitch_classes_per_bar": {"$ref": "#/components/schemas/MetricSummary"},
              "qualified_note_share": {"$ref": "#/components/schemas/MetricSummary"}
            }
          }
        }
      },
      "Model": {
        "type": "object", "additionalProperties": false,
        "required": ["id", "name", "available", "error", "encoding", "dataset", "train_sequences", "valid_sequences",
                     "parameters", "embed", "hidden", "layers", "best_valid_loss", "loss_curve", "instruments", "max_parts"],
        "properties": {
          "id": {"type": "string"},
          "name": {"type": "string", "description": "The run's folder under --runs, for people to read"},
          "available": {"type": "boolean"},
          "error": {"type": "string", "nullable": true, "description": "Why the run cannot be opened"},
          "encoding": {"type": "string", "description": "roll, events, notes or multitrack (empty when not available)"},
          "dataset": {"type": "string", "description": "The dataset file's name"},
          "train_sequences": {"type": "integer"},
          "valid_sequences": {"type": "integer"},
          "parameters": {"type": "integer"},
          "embed": {"type": "integer"},
          "hidden": {"type": "integer"},
          "layers": {"type": "integer"},
          "best_valid_loss": {"type": "number", "nullable": true},
          "loss_curve": {"type": "array", "maxItems": 200, "items": {"$ref": "#/components/schemas/LossPoint"}},
          "instruments": {"type": "array", "items": {"type": "string"}, "description": "A multitrack model's instruments, the names a request's instruments takes (empty for other encodings)"},
          "max_parts": {"type": "integer", "description": "The most parts a multitrack model writes (0 for other encodings)"}
        }
      },
      "Primer": {
        "type": "object", "additionalProperties": false,
        "not": {"required": ["sequence", "midi_base64"]},
        "properties": {
          "steps": {"type": "integer", "minimum": 0, "maximum": 20000, "default": 16},
          "sequence": {"type": "integer", "minimum": -1, "maximum": 100000000, "default": -1,
                       "description": "A validation sequence of the model's data; -1: picked by the seed"},
          "midi_base64": {"type": "string", "format": "byte", "description": "A MIDI file, base64"}
        }
      },
      "GenerationRequest": {
        "type": "object", "additionalProperties": false, "required": ["model"],
        "not": {"required": ["steps", "seconds"]},
        "properties": {
          "model": {"type": "string", "description": "A model id from GET /api/models"},
          "steps": {"type": "integer", "minimum": 1, "maximum": 20000, "default": 256},
          "seconds": {"type": "number", "minimum": 0, "exclusiveMinimum": true, "maximum": 600},
          "temperature": {"type": "number", "minimum": 0, "exclusiveMinimum": true, "maximum": 100, "default": 1},
          "top_k": {"type": "integer", "minimum": 0, "maximum": 100000, "default": 0},
          "top_p": {"type": "number", "minimum": 0, "exclusiveMinimum": true, "maximum": 1, "default": 0.95},
          "seed": {"type": "integer", "minimum": 0, "maximum": 9007199254740991, "description": "Default: a new one, stored with the piece"},
          "tempo": {"anyOf": [{"type": "number", "enum": [0]}, {"type": "number", "minimum": 4, "maximum": 1000}],
                    "default": 0, "description": "Beats per minute; 0: the encoding's default"},
          "primer": {"$ref": "#/components/schemas/Primer"},
          "instruments": {"type": "array", "minItems": 1, "maxItems": 16, "items": {"type": "string", "minLength": 1, "maxLength": 40},
                          "description": "A multitrack model's ensemble, one instrument name (or GM program) per part, from the model's instruments; a 400 for other models"}
        }
      },
      "Job": {
        "type": "object", "additionalProperties": false,
        "required": ["id", "model", "state", "stage", "progress", "piece", "error"],
        "properties": {
          "id": {"type": "string"},
          "model": {"type": "string"},
          "state": {"type": "string", "enum": ["queued", "running", "done", "failed", "cancelled"]},
          "stage": {"type": "string"},
          "progress": {
            "type": "object", "additionalProperties": false, "required": ["done", "total"],
            "properties": {"done": {"type": "integer"}, "total": {"type": "integer"}}
          },
          "piece": {"type": "string", "nullable": true, "description": "The piece made (state done)"},
          "error": {"type": "string", "nullable": true, "description": "Why it failed (state failed)"}
        }
      },
      "Piece": {
        "type": "object", "additionalProperties": false,
        "required": ["id", "created", "model", "parameters", "metrics", "files"],
        "properties": {
          "id": {"type": "string"},
          "created": {"type": "string", "format": "date-time"},
          "synthesizer": {"type": "string", "description": "What played the WAV: the built-in synthesizer, or FluidSynth with serve --soundfont's SoundFont"},
          "model": {
            "type": "object", "additionalProperties": false, "required": ["id", "name", "weights_sha256"],
            "properties": {"id": {"type": "string"}, "name": {"type": "string"}, "weights_sha256": {"type": "string"}}
          },
          "parameters": {"$ref": "#/components/schemas/GenerationRequest"},
          "metrics": {
            "type": "object", "additionalProperties": false,
            "required": ["seconds", "primer_steps", "generated_steps", "ended_by_rule", "generate_seconds", "render_seconds",
                         "note_count", "pitch_range", "pitch_classes_used", "polyphony", "scale_consistency",
                         "repeated_ngram_share", "longest_repeat_run", "empty_bar_share", "mean_note_length",
                         "polyphonic_onset_share", "repetitions", "pitch_classes_per_bar", "qualified_note_share"],
            "properties": {
              "seconds": {"type": "number"},
              "primer_steps": {"type": "integer"},
              "generated_steps": {"type": "integer"},
              "ended_by_rule": {"type": "boolean"},
              "generate_seconds": {"type": "number"},
              "render_seconds": {"type": "number"},
              "note_count": {"type": "number", "nullable": true},
              "pitch_range": {"type": "number", "nullable": true},
              "pitch_classes_used": {"type": "number", "nullable": true},
              "polyphony": {"type": "number", "nullable": true},
              "scale_consistency": {"type": "number", "nullable": true},
              "repeated_ngram_share": {"type": "number", "nullable": true},
              "longest_repeat_run": {"type": "number", "nullable": true},
              "empty_bar_share": {"type": "number", "nullable": true},
              "mean_note_length": {"type": "number", "nullable": true},
              "polyphonic_onset_share": {"type": "number", "nullable": true},
              "repetitions": {"type": "number", "nullable": true},
              "pitch_classes_per_bar": {"type": "number", "nullable": true},
              "qualified_note_share": {"type": "number", "nullable": true}
            }
          },
          "files": {
            "type": "object", "additionalProperties": false, "required": ["midi", "wav", "svg"],
            "properties": {"midi": {"type": "string"}, "wav": {"type": "string"}, "svg": {"type": "string"}}
          }
        }
      }
    }
  }
})json";
}

}  // namespace musegen::server
