; Java. Docs are the Javadoc (or other) comments right above a declaration; annotations
; sit inside `modifiers`, so they never come between the two.

; Package -------------------------------------------------------------------

(package_declaration [(scoped_identifier) (identifier)] @package)

; Definitions ---------------------------------------------------------------

(class_declaration
  name: (identifier) @name) @definition.class

(record_declaration
  name: (identifier) @name) @definition.class

(interface_declaration
  name: (identifier) @name) @definition.interface

(annotation_type_declaration
  name: (identifier) @name) @definition.interface

(enum_declaration
  name: (identifier) @name) @definition.enum

(method_declaration
  name: (identifier) @name) @definition.function

(constructor_declaration
  name: (identifier) @name) @definition.function

(compact_constructor_declaration
  name: (identifier) @name) @definition.function

; constants: static final fields, and every field of an interface
(field_declaration
  (modifiers "static" "final")
  declarator: (variable_declarator name: (identifier) @name)) @definition.constant

(constant_declaration
  declarator: (variable_declarator name: (identifier) @name)) @definition.constant

; References ----------------------------------------------------------------

; an unqualified call is a call on `this` (or on the class, for static methods)
((method_invocation
  !object
  name: (identifier) @name) @reference.call
  (#set! receiver "this"))

(method_invocation
  object: (_) @receiver
  name: (identifier) @name) @reference.call

; constructor calls: new Cart(), new Cart.Item(), new ArrayList<>()
(object_creation_expression
  type: [(type_identifier) @name
         (generic_type (type_identifier) @name)]) @reference.call

(object_creation_expression
  type: [(scoped_type_identifier (_) @receiver . (type_identifier) @name .)
         (generic_type (scoped_type_identifier (_) @receiver . (type_identifier) @name .))]) @reference.call

; inheritance: extends, implements, interface extends
(superclass
  [(type_identifier) @name
   (generic_type (type_identifier) @name)]) @reference.class

(superclass
  [(scoped_type_identifier (_) @receiver . (type_identifier) @name .)
   (generic_type (scoped_type_identifier (_) @receiver . (type_identifier) @name .))]) @reference.class

(super_interfaces
  (type_list
    [(type_identifier) @name
     (generic_type (type_identifier) @name)] @reference.class))

(super_interfaces
  (type_list
    [(scoped_type_identifier (_) @receiver . (type_identifier) @name .)
     (generic_type (scoped_type_identifier (_) @receiver . (type_identifier) @name .))] @reference.class))

(extends_interfaces
  (type_list
    [(type_identifier) @name
     (generic_type (type_identifier) @name)] @reference.class))

(extends_interfaces
  (type_list
    [(scoped_type_identifier (_) @receiver . (type_identifier) @name .)
     (generic_type (scoped_type_identifier (_) @receiver . (type_identifier) @name .))] @reference.class))

; Imports -------------------------------------------------------------------
; import a.b.C;              -> path a.b.C (binds C)
; import a.b.*;              -> source a.b, wildcard
; import static a.b.C.m;     -> path a.b.C (the class the member comes from)
; import static a.b.C.*;     -> path a.b.C, wildcard

((import_declaration
  .
  (scoped_identifier) @import.path
  .) @import
  (#not-match? @import "^import\\s+static"))

((import_declaration
  .
  (scoped_identifier) @import.source
  (asterisk) @import.wildcard) @import
  (#not-match? @import "^import\\s+static"))

(import_declaration
  "static"
  (scoped_identifier scope: (_) @import.path)
  .) @import

(import_declaration
  "static"
  (scoped_identifier) @import.path
  (asterisk) @import.wildcard) @import
