; JavaScript (.js .jsx .mjs .cjs). Docs are the comments right above a definition
; (JSDoc included); the extractor finds them, so no @doc captures are needed.

; Definitions ---------------------------------------------------------------

(class_declaration
  name: (identifier) @name) @definition.class

(function_declaration
  name: (identifier) @name) @definition.function

(generator_function_declaration
  name: (identifier) @name) @definition.function

(method_definition
  name: [(property_identifier) (private_property_identifier)] @name) @definition.function

; class fields holding functions: `handler = () => {}`
(field_definition
  property: [(property_identifier) (private_property_identifier)] @name
  value: [(arrow_function) (function_expression)]) @definition.function

; `const f = () => {}` / `let g = function () {}`: the declaration is the definition, so
; the comment above it (or above its `export`) is its doc
(lexical_declaration
  (variable_declarator
    name: (identifier) @name
    value: [(arrow_function) (function_expression) (generator_function)])) @definition.function

(variable_declaration
  (variable_declarator
    name: (identifier) @name
    value: [(arrow_function) (function_expression) (generator_function)])) @definition.function

; module-level constants: `const LIMIT = 10`, exported or not
(program
  (lexical_declaration
    "const"
    (variable_declarator
      name: (identifier) @name
      value: [(number) (string) (template_string) (true) (false) (null) (array) (object)
              (regex) (unary_expression) (binary_expression) (new_expression)
              (member_expression) (identifier)])) @definition.constant)

(program
  (export_statement
    declaration: (lexical_declaration
      "const"
      (variable_declarator
        name: (identifier) @name
        value: [(number) (string) (template_string) (true) (false) (null) (array) (object)
                (regex) (unary_expression) (binary_expression) (new_expression)
                (member_expression) (identifier)])) @definition.constant))

; Exports that name a definition made elsewhere in the file ------------------
; export { a, b as c }     export default name

(export_statement
  !source
  (export_clause (export_specifier name: (identifier) @export.name)))

(export_statement
  "default"
  value: (identifier) @export.name)

; References ----------------------------------------------------------------

(call_expression
  function: (identifier) @name) @reference.call

(call_expression
  function: (member_expression
    object: (_) @receiver
    property: [(property_identifier) (private_property_identifier)] @name)) @reference.call

(new_expression
  constructor: (identifier) @name) @reference.call

(new_expression
  constructor: (member_expression
    object: (_) @receiver
    property: (property_identifier) @name)) @reference.call

; JSX components (capitalised tags; lower-case ones are HTML elements)
((jsx_opening_element name: (identifier) @name) @reference.call
  (#match? @name "^[A-Z]"))

((jsx_self_closing_element name: (identifier) @name) @reference.call
  (#match? @name "^[A-Z]"))

(jsx_opening_element
  name: (member_expression object: (_) @receiver property: (property_identifier) @name)) @reference.call

(jsx_self_closing_element
  name: (member_expression object: (_) @receiver property: (property_identifier) @name)) @reference.call

; inheritance: class A extends B / extends ns.B
(class_heritage (identifier) @name) @reference.class

(class_heritage
  (member_expression object: (_) @receiver property: (property_identifier) @name)) @reference.class

; Imports -------------------------------------------------------------------
; import d from "./m"              -> source ./m, name default, alias d
; import { a, b as c } from "./m"  -> source ./m, name a / name b alias c
; import * as ns from "./m"        -> source ./m, alias ns (binds the module)
; export { a } from "./m"          -> re-export: source ./m, name a
; export * from "./m"              -> re-export: source ./m, wildcard
; const x = require("./m")         -> source ./m, alias x
; const { a, b: c } = require("./m")

((import_statement
  (import_clause (identifier) @import.alias)
  source: (string) @import.source) @import
  (#set! import.name "default"))

(import_statement
  (import_clause
    (named_imports (import_specifier name: (_) @import.name !alias)))
  source: (string) @import.source) @import

(import_statement
  (import_clause
    (named_imports (import_specifier name: (_) @import.name alias: (identifier) @import.alias)))
  source: (string) @import.source) @import

(import_statement
  (import_clause (namespace_import (identifier) @import.alias))
  source: (string) @import.source) @import

(export_statement
  (export_clause (export_specifier name: (_) @import.name !alias))
  source: (string) @import.source) @import

(export_statement
  (export_clause (export_specifier name: (_) @import.name alias: (_) @import.alias))
  source: (string) @import.source) @import

(export_statement
  "*" @import.wildcard
  source: (string) @import.source) @import

(export_statement
  (namespace_export (_) @import.alias)
  source: (string) @import.source) @import

((variable_declarator
  name: (identifier) @import.alias
  value: (call_expression
    function: (identifier) @_require
    arguments: (arguments . (string) @import.source .))) @import
  (#eq? @_require "require"))

((variable_declarator
  name: (object_pattern (shorthand_property_identifier_pattern) @import.name)
  value: (call_expression
    function: (identifier) @_require
    arguments: (arguments . (string) @import.source .))) @import
  (#eq? @_require "require"))

((variable_declarator
  name: (object_pattern
    (pair_pattern key: (property_identifier) @import.name value: (identifier) @import.alias))
  value: (call_expression
    function: (identifier) @_require
    arguments: (arguments . (string) @import.source .))) @import
  (#eq? @_require "require"))
