; C#. Docs are the `///` XML doc comments (or other comments) right above a declaration;
; attributes sit inside the declaration, so they never come between the two. The
; namespace is the file's package: `namespace A.B { }` or `namespace A.B;`.

; Package -------------------------------------------------------------------

(namespace_declaration name: (_) @package)

(file_scoped_namespace_declaration name: (_) @package)

; Definitions ---------------------------------------------------------------

(class_declaration
  name: (identifier) @name) @definition.class

(record_declaration
  name: (identifier) @name) @definition.class

(struct_declaration
  name: (identifier) @name) @definition.struct

(interface_declaration
  name: (identifier) @name) @definition.interface

(enum_declaration
  name: (identifier) @name) @definition.enum

(delegate_declaration
  name: (identifier) @name) @definition.type

(method_declaration
  name: (identifier) @name) @definition.function

(constructor_declaration
  name: (identifier) @name) @definition.function

(local_function_statement
  name: (identifier) @name) @definition.function

(field_declaration
  (modifier "const")
  (variable_declaration (variable_declarator name: (identifier) @name))) @definition.constant

; References ----------------------------------------------------------------

; an unqualified call is a call on `this` (or on the type, for static methods)
((invocation_expression
  function: [(identifier) @name (generic_name . (identifier) @name)]) @reference.call
  (#set! receiver "this"))

(invocation_expression
  function: (member_access_expression
    expression: _ @receiver
    name: [(identifier) @name (generic_name . (identifier) @name)])) @reference.call

; constructor calls: new Cart(), new List<T>(), new Sys.Thing()
(object_creation_expression
  type: [(identifier) @name (generic_name . (identifier) @name)]) @reference.call

(object_creation_expression
  type: (qualified_name
    qualifier: (_) @receiver
    name: [(identifier) @name (generic_name . (identifier) @name)])) @reference.call

; base class and interfaces: class Cart : Base, IPriced
(base_list
  [(identifier) @name
   (generic_name . (identifier) @name)
   (primary_constructor_base_type type: (identifier) @name)] @reference.class)

(base_list
  (qualified_name
    qualifier: (_) @receiver
    name: [(identifier) @name (generic_name . (identifier) @name)]) @reference.class)

; Imports -------------------------------------------------------------------
; using A.B;           -> source A.B, wildcard (every type of the namespace)
; using static A.B.C;  -> source A.B.C, wildcard
; using X = A.B.C;     -> source A.B.C, alias X

(using_directive
  !name
  [(qualified_name) (identifier)] @import.source @import.wildcard) @import

(using_directive
  name: (identifier) @import.alias
  [(qualified_name) (identifier)] @import.source) @import
