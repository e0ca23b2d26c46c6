; C (.c .h). Docs are the comments right above a definition. Prototypes are not
; definitions: a call resolves to the function's body, found through the included
; header's module (`geometry.h` and `geometry.c` are both module `geometry`).

; Definitions ---------------------------------------------------------------

(function_definition
  declarator: [(function_declarator declarator: (identifier) @name)
               (pointer_declarator declarator: (function_declarator declarator: (identifier) @name))
               (pointer_declarator declarator: (pointer_declarator
                 declarator: (function_declarator declarator: (identifier) @name)))]) @definition.function

; typedef struct { ... } Point;  -> the struct is known by its typedef name
(type_definition
  type: (struct_specifier body: (_))
  declarator: (type_identifier) @name) @definition.struct

(type_definition
  type: (union_specifier body: (_))
  declarator: (type_identifier) @name) @definition.struct

(type_definition
  type: (enum_specifier body: (_))
  declarator: (type_identifier) @name) @definition.enum

; other typedefs: typedef unsigned long size_t; typedef int (*cmp)(int, int);
(type_definition
  type: [(primitive_type) (type_identifier) (sized_type_specifier)
         (struct_specifier !body) (union_specifier !body) (enum_specifier !body)]
  declarator: [(type_identifier) @name
               (pointer_declarator declarator: (type_identifier) @name)
               (function_declarator declarator: (parenthesized_declarator
                 (pointer_declarator declarator: (type_identifier) @name)))]) @definition.type

; struct/union/enum with a body outside a typedef: at file scope, or inside #if blocks
([(translation_unit (struct_specifier name: (type_identifier) @name body: (_)) @definition.struct)
  (preproc_ifdef (struct_specifier name: (type_identifier) @name body: (_)) @definition.struct)
  (preproc_if (struct_specifier name: (type_identifier) @name body: (_)) @definition.struct)
  (preproc_else (struct_specifier name: (type_identifier) @name body: (_)) @definition.struct)
  (declaration type: (struct_specifier name: (type_identifier) @name body: (_)) @definition.struct)])

([(translation_unit (union_specifier name: (type_identifier) @name body: (_)) @definition.struct)
  (preproc_ifdef (union_specifier name: (type_identifier) @name body: (_)) @definition.struct)
  (preproc_if (union_specifier name: (type_identifier) @name body: (_)) @definition.struct)
  (preproc_else (union_specifier name: (type_identifier) @name body: (_)) @definition.struct)
  (declaration type: (union_specifier name: (type_identifier) @name body: (_)) @definition.struct)])

([(translation_unit (enum_specifier name: (type_identifier) @name body: (_)) @definition.enum)
  (preproc_ifdef (enum_specifier name: (type_identifier) @name body: (_)) @definition.enum)
  (preproc_if (enum_specifier name: (type_identifier) @name body: (_)) @definition.enum)
  (preproc_else (enum_specifier name: (type_identifier) @name body: (_)) @definition.enum)
  (declaration type: (enum_specifier name: (type_identifier) @name body: (_)) @definition.enum)])

(preproc_def
  name: (identifier) @name
  value: (_)) @definition.constant

(preproc_function_def
  name: (identifier) @name) @definition.macro

; file-scope constants: static const double EPSILON = 1e-9;
((translation_unit
  (declaration
    (type_qualifier) @_const
    declarator: (init_declarator declarator: (identifier) @name)) @definition.constant)
  (#eq? @_const "const"))

; References ----------------------------------------------------------------

(call_expression
  function: (identifier) @name) @reference.call

; calls through function pointers held in structs: ops->run(), ops.run()
(call_expression
  function: (field_expression
    argument: (_) @receiver
    field: (field_identifier) @name)) @reference.call

; Imports -------------------------------------------------------------------
; #include "geometry.h"  -> source geometry.h (its definitions become visible)
; #include <stdio.h>     -> source stdio.h (a system header)

(preproc_include
  path: [(string_literal) (system_lib_string)] @import.source) @import
