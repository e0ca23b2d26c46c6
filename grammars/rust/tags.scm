; Rust. Docs are the `///` (or `/** */`) comments right above an item, attributes
; such as #[derive] in between allowed. An `impl T` block is a container named T; the
; resolver treats it, the struct T and every other `impl T` in the file as one type.

; Definitions ---------------------------------------------------------------

(function_item
  name: (identifier) @name) @definition.function

; trait method declarations without a body
(function_signature_item
  name: (identifier) @name) @definition.function

(struct_item
  name: (type_identifier) @name) @definition.struct

(union_item
  name: (type_identifier) @name) @definition.struct

(enum_item
  name: (type_identifier) @name) @definition.enum

(trait_item
  name: (type_identifier) @name) @definition.trait

(impl_item
  type: [(type_identifier) @name
         (generic_type type: (type_identifier) @name)
         (scoped_type_identifier name: (type_identifier) @name)
         (generic_type type: (scoped_type_identifier name: (type_identifier) @name))]) @definition.impl

(type_item
  name: (type_identifier) @name) @definition.type

(const_item
  name: (identifier) @name) @definition.constant

(static_item
  name: (identifier) @name) @definition.constant

; inline modules: mod tests { ... }
(mod_item
  name: (identifier) @name
  body: (declaration_list)) @definition.module

(macro_definition
  name: (identifier) @name) @definition.macro

; References ----------------------------------------------------------------

(call_expression
  function: (identifier) @name) @reference.call

; method calls: value.method()
(call_expression
  function: (field_expression
    value: (_) @receiver
    field: (field_identifier) @name)) @reference.call

; path calls: Type::new(), module::func(), crate::a::f()
(call_expression
  function: (scoped_identifier
    path: (_) @receiver
    name: (identifier) @name)) @reference.call

; turbofish: f::<T>(), x.collect::<T>(), Type::f::<T>()
(call_expression
  function: (generic_function function: (identifier) @name)) @reference.call

(call_expression
  function: (generic_function
    function: (field_expression value: (_) @receiver field: (field_identifier) @name))) @reference.call

(call_expression
  function: (generic_function
    function: (scoped_identifier path: (_) @receiver name: (identifier) @name))) @reference.call

(macro_invocation
  macro: (identifier) @name) @reference.call

(macro_invocation
  macro: (scoped_identifier path: (_) @receiver name: (identifier) @name)) @reference.call

; struct literals construct the type: Circle { radius }
(struct_expression
  name: (type_identifier) @name) @reference.call

(struct_expression
  name: (scoped_type_identifier path: (_) @receiver name: (type_identifier) @name)) @reference.call

; implementing a trait: impl Area for Circle / impl fmt::Display for Circle
(impl_item
  trait: [(type_identifier) @name
          (generic_type type: (type_identifier) @name)]) @reference.class

(impl_item
  trait: [(scoped_type_identifier path: (_) @receiver name: (type_identifier) @name)
          (generic_type type: (scoped_type_identifier path: (_) @receiver name: (type_identifier) @name))]) @reference.class

; supertraits: trait Shape: Area + Debug
(trait_item
  bounds: (trait_bounds (type_identifier) @name)) @reference.class

(trait_item
  bounds: (trait_bounds
    (scoped_type_identifier path: (_) @receiver name: (type_identifier) @name))) @reference.class

; Imports -------------------------------------------------------------------
; use crate::a::B;               -> path crate::a::B (binds B)
; use crate::a::B as C;          -> source crate::a, name B, alias C
; use crate::a::{B, d as e};     -> source crate::a, name B / name d alias e
; use crate::a::*;               -> source crate::a, wildcard
; mod shapes;                    -> source self::shapes (binds the child module)

(use_declaration
  argument: [(scoped_identifier) (identifier)] @import.path) @import

(use_declaration
  argument: (use_as_clause
    path: (scoped_identifier path: (_) @import.source name: (identifier) @import.name)
    alias: (identifier) @import.alias)) @import

(use_declaration
  argument: (use_as_clause
    path: (identifier) @import.source
    alias: (identifier) @import.alias)) @import

(use_declaration
  argument: (scoped_use_list
    path: (_) @import.source
    list: (use_list (identifier) @import.name))) @import

(use_declaration
  argument: (scoped_use_list
    path: (_) @import.source
    list: (use_list
      (use_as_clause path: (identifier) @import.name alias: (identifier) @import.alias)))) @import

(use_declaration
  argument: (use_wildcard [(scoped_identifier) (identifier)] @import.source) @import.wildcard) @import

((mod_item
  !body
  name: (identifier) @import.source) @import
  (#set! import.prefix "self::"))
