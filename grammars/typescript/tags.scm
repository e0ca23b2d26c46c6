; TypeScript (.ts .mts .cts .d.ts). The tsx folder extends these queries with JSX.
; Docs are the comments right above a definition (TSDoc included).

; Definitions ---------------------------------------------------------------

(class_declaration
  name: (type_identifier) @name) @definition.class

(abstract_class_declaration
  name: (type_identifier) @name) @definition.class

(interface_declaration
  name: (type_identifier) @name) @definition.interface

(enum_declaration
  name: (identifier) @name) @definition.enum

(type_alias_declaration
  name: (type_identifier) @name) @definition.type

(internal_module
  name: [(identifier) (nested_identifier)] @name) @definition.module

(function_declaration
  name: (identifier) @name) @definition.function

(generator_function_declaration
  name: (identifier) @name) @definition.function

; `declare function f(): T;` and overload signatures
(function_signature
  name: (identifier) @name) @definition.function

(method_definition
  name: [(property_identifier) (private_property_identifier)] @name) @definition.function

(method_signature
  name: [(property_identifier) (private_property_identifier)] @name) @definition.function

(abstract_method_signature
  name: [(property_identifier) (private_property_identifier)] @name) @definition.function

; class fields holding functions: `handler = () => {}`
(public_field_definition
  name: [(property_identifier) (private_property_identifier)] @name
  value: [(arrow_function) (function_expression)]) @definition.function

; `const f = () => {}`: the declaration is the definition, so the comment above it (or
; above its `export`) is its doc
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
              (member_expression) (identifier) (as_expression) (satisfies_expression)])) @definition.constant)

(program
  (export_statement
    declaration: (lexical_declaration
      "const"
      (variable_declarator
        name: (identifier) @name
        value: [(number) (string) (template_string) (true) (false) (null) (array) (object)
                (regex) (unary_expression) (binary_expression) (new_expression)
                (member_expression) (identifier) (as_expression) (satisfies_expression)])) @definition.constant))

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

; inheritance: extends B, implements I, I<T>, ns.J; interface A extends B
(extends_clause value: (identifier) @name) @reference.class

(extends_clause
  value: (member_expression object: (_) @receiver property: (property_identifier) @name)) @reference.class

(implements_clause (type_identifier) @name) @reference.class

(implements_clause (generic_type name: (type_identifier) @name)) @reference.class

(implements_clause
  [(nested_type_identifier module: (_) @receiver name: (type_identifier) @name)
   (generic_type name: (nested_type_identifier module: (_) @receiver name: (type_identifier) @name))]) @reference.class

(extends_type_clause type: (type_identifier) @name) @reference.class

(extends_type_clause type: (generic_type name: (type_identifier) @name)) @reference.class

(extends_type_clause
  type: [(nested_type_identifier module: (_) @receiver name: (type_identifier) @name)
         (generic_type name: (nested_type_identifier module: (_) @receiver name: (type_identifier) @name))]) @reference.class

; Imports -------------------------------------------------------------------
; import d from "./m"              -> source ./m, name default, alias d
; import { a, b as c } from "./m"  -> source ./m, name a / name b alias c (`type` ones too)
; import * as ns from "./m"        -> source ./m, alias ns (binds the module)
; import x = require("./m")        -> source ./m, alias x
; export { a } from "./m"          -> re-export: source ./m, name a
; export * from "./m"              -> re-export: source ./m, wildcard

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

(import_statement
  (import_require_clause (identifier) @import.alias source: (string) @import.source)) @import

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
