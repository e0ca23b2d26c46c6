; C++ (.cc .cpp .cxx .hpp .hh .hxx). Docs are the comments right above a definition
; (above `template <...>` for templates). Member functions defined outside their class,
; `double Circle::area() const { ... }`, carry the class as @receiver: they become
; methods of Circle when the class is declared above them in the same file, else
; methods named Circle::area. In-class prototypes are not definitions (their bodies
; are), except pure virtual ones, which have no body anywhere.

; Definitions ---------------------------------------------------------------

(namespace_definition
  name: [(namespace_identifier) (nested_namespace_specifier)] @name) @definition.module

(class_specifier
  name: (type_identifier) @name
  body: (_)) @definition.class

(struct_specifier
  name: (type_identifier) @name
  body: (_)) @definition.struct

(union_specifier
  name: (type_identifier) @name
  body: (_)) @definition.struct

(enum_specifier
  name: (type_identifier) @name
  body: (_)) @definition.enum

; typedef struct { ... } Point;
(type_definition
  type: [(struct_specifier !name body: (_)) (class_specifier !name body: (_))]
  declarator: (type_identifier) @name) @definition.struct

(type_definition
  type: [(primitive_type) (type_identifier) (sized_type_specifier) (qualified_identifier)
         (template_type)]
  declarator: (type_identifier) @name) @definition.type

(alias_declaration
  name: (type_identifier) @name) @definition.type

; free functions and member functions defined in their class
(function_definition
  declarator: [(function_declarator
                 declarator: [(identifier) (field_identifier) (destructor_name) (operator_name)] @name)
               (pointer_declarator
                 declarator: (function_declarator
                   declarator: [(identifier) (field_identifier) (operator_name)] @name))
               (reference_declarator
                 (function_declarator
                   declarator: [(identifier) (field_identifier) (operator_name)] @name))]) @definition.function

; member functions defined outside their class: Circle::area, Stack<T>::top, geo::Circle::area
(function_definition
  declarator: [(function_declarator
                 declarator: [(qualified_identifier
                                scope: [(namespace_identifier) @receiver
                                        (template_type name: (type_identifier) @receiver)]
                                name: [(identifier) (destructor_name) (operator_name)] @name)
                              (qualified_identifier
                                name: (qualified_identifier
                                  scope: [(namespace_identifier) @receiver
                                          (template_type name: (type_identifier) @receiver)]
                                  name: [(identifier) (destructor_name) (operator_name)] @name))])
               (pointer_declarator
                 declarator: (function_declarator
                   declarator: (qualified_identifier
                     scope: [(namespace_identifier) @receiver
                             (template_type name: (type_identifier) @receiver)]
                     name: [(identifier) (operator_name)] @name)))
               (reference_declarator
                 (function_declarator
                   declarator: (qualified_identifier
                     scope: [(namespace_identifier) @receiver
                             (template_type name: (type_identifier) @receiver)]
                     name: [(identifier) (operator_name)] @name)))]) @definition.function

; pure virtual member functions: virtual double area() const = 0;
(field_declaration
  declarator: (function_declarator declarator: (field_identifier) @name)
  default_value: (number_literal)) @definition.function

(preproc_def
  name: (identifier) @name
  value: (_)) @definition.constant

(preproc_function_def
  name: (identifier) @name) @definition.macro

; constants at file or namespace scope: constexpr int kMax = 10; const double kPi = ...;
(translation_unit
  (declaration
    (type_qualifier)
    declarator: (init_declarator declarator: (identifier) @name)) @definition.constant)

(namespace_definition
  body: (declaration_list
    (declaration
      (type_qualifier)
      declarator: (init_declarator declarator: (identifier) @name)) @definition.constant))

; References ----------------------------------------------------------------

(call_expression
  function: (identifier) @name) @reference.call

(call_expression
  function: (template_function name: (identifier) @name)) @reference.call

; member calls: shape.describe(), this->area(), obj.template get<T>()
(call_expression
  function: (field_expression
    argument: (_) @receiver
    field: [(field_identifier) @name
            (dependent_name (template_method name: (field_identifier) @name))])) @reference.call

; qualified calls: geo::square(), Circle::unit(), std::make_unique<T>(); for a longer
; path (geo::Circle::unit) the receiver is the innermost scope (Circle)
(call_expression
  function: (qualified_identifier
    scope: (_) @receiver
    name: [(identifier) @name (template_function name: (identifier) @name)])) @reference.call

(call_expression
  function: (qualified_identifier
    name: (qualified_identifier
      scope: (_) @receiver
      name: [(identifier) @name (template_function name: (identifier) @name)]))) @reference.call

; construction: new Circle(1), new geo::Circle(1), new Box<int>()
(new_expression
  type: [(type_identifier) @name (template_type name: (type_identifier) @name)]) @reference.call

(new_expression
  type: (qualified_identifier
    scope: (_) @receiver
    name: [(type_identifier) @name (template_type name: (type_identifier) @name)])) @reference.call

; inheritance: class Circle : public Shape, public geo::Base, Mixin<T>
(base_class_clause
  [(type_identifier) @name
   (template_type name: (type_identifier) @name)] @reference.class)

(base_class_clause
  (qualified_identifier
    scope: (_) @receiver
    name: [(type_identifier) @name (template_type name: (type_identifier) @name)]) @reference.class)

; Imports -------------------------------------------------------------------
; #include "shapes.hpp"  -> source shapes.hpp (its definitions become visible)
; #include <vector>      -> source vector (a system header)

(preproc_include
  path: [(string_literal) (system_lib_string)] @import.source) @import
