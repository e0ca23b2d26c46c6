; Go. Docs are the `//` comments right above a declaration (Go doc comments).
; Methods carry their receiver type as @receiver, so `func (c *Cart) Add()` becomes the
; method Cart.Add when the type is declared above it in the same file.

; Definitions ---------------------------------------------------------------

(function_declaration
  name: (identifier) @name) @definition.function

(method_declaration
  receiver: (parameter_list
    (parameter_declaration
      type: [(type_identifier) @receiver
             (pointer_type (type_identifier) @receiver)
             (generic_type type: (type_identifier) @receiver)
             (pointer_type (generic_type type: (type_identifier) @receiver))]))
  name: (field_identifier) @name) @definition.function

(type_spec
  name: (type_identifier) @name
  type: (struct_type)) @definition.struct

(type_spec
  name: (type_identifier) @name
  type: (interface_type)) @definition.interface

(type_spec
  name: (type_identifier) @name
  type: [(type_identifier) (qualified_type) (pointer_type) (slice_type) (map_type)
         (array_type) (channel_type) (function_type) (generic_type)]) @definition.type

(type_alias
  name: (type_identifier) @name) @definition.type

; interface methods
(method_elem
  name: (field_identifier) @name) @definition.function

(source_file
  (const_declaration
    (const_spec name: (identifier) @name) @definition.constant))

(source_file
  (var_declaration
    (var_spec name: (identifier) @name) @definition.variable))

; References ----------------------------------------------------------------

(call_expression
  function: (identifier) @name) @reference.call

(call_expression
  function: (selector_expression
    operand: (_) @receiver
    field: (field_identifier) @name)) @reference.call

; generic calls parse as conversions: Map[int](xs), pkg.Map[int](xs)
(type_conversion_expression
  type: (generic_type type: (type_identifier) @name)) @reference.call

(type_conversion_expression
  type: (generic_type
    type: (qualified_type package: (package_identifier) @receiver name: (type_identifier) @name))) @reference.call

; composite literals construct a type: Cart{}, Box[int]{}, store.Item{...}
(composite_literal
  type: [(type_identifier) @name (generic_type type: (type_identifier) @name)]) @reference.call

(composite_literal
  type: (qualified_type package: (package_identifier) @receiver name: (type_identifier) @name)) @reference.call

; embedding is Go's inheritance: struct { Base; *pkg.Other }, interface { io.Reader }
(field_declaration
  !name
  type: (type_identifier) @name) @reference.class

(field_declaration
  !name
  type: (qualified_type package: (package_identifier) @receiver name: (type_identifier) @name)) @reference.class

(interface_type
  (type_elem . (type_identifier) @name .) @reference.class)

(interface_type
  (type_elem .
    (qualified_type package: (package_identifier) @receiver name: (type_identifier) @name) .) @reference.class)

; Imports -------------------------------------------------------------------
; import "example.com/m/store"        -> source example.com/m/store (binds `store`)
; import s "example.com/m/store"      -> alias s
; import . "example.com/m/store"      -> wildcard

(import_spec
  !name
  path: (_) @import.source) @import

(import_spec
  name: [(package_identifier) (blank_identifier)] @import.alias
  path: (_) @import.source) @import

(import_spec
  name: (dot) @import.wildcard
  path: (_) @import.source) @import
