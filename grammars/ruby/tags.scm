; Ruby. Docs are the `#` comments right above a definition. A call without a receiver,
; `add(item)`, is a call on self; so is a bare `add` in Ruby, but that reads exactly like
; a local variable and is left out.

; Definitions ---------------------------------------------------------------

(class
  name: [(constant) @name (scope_resolution name: (_) @name)]) @definition.class

(singleton_class
  value: [(constant) @name (scope_resolution name: (_) @name)]) @definition.class

(module
  name: [(constant) @name (scope_resolution name: (_) @name)]) @definition.module

(method
  name: (_) @name) @definition.function

(singleton_method
  name: (_) @name) @definition.function

(assignment
  left: (constant) @name) @definition.constant

; References ----------------------------------------------------------------

; (#set! comes first: after a text predicate it crashes py-tree-sitter 0.26 on cleanup)
((call
  !receiver
  method: (identifier) @name) @reference.call
  (#set! receiver "self")
  (#not-match? @name "^(require|require_relative|include|extend|prepend|attr_reader|attr_writer|attr_accessor|private|protected|public|module_function)$"))

((call
  receiver: (_) @receiver
  method: [(identifier) (constant)] @name) @reference.call
  (#not-eq? @name "new"))

; Cart.new / Shop::Cart.new construct the class
((call
  receiver: (constant) @name
  method: (identifier) @_new) @reference.call
  (#eq? @_new "new"))

((call
  receiver: (scope_resolution scope: (_) @receiver name: (constant) @name)
  method: (identifier) @_new) @reference.call
  (#eq? @_new "new"))

; inheritance and mixins: class A < B, include Comparable, extend Forwardable
(class
  superclass: (superclass [(constant) @name
                           (scope_resolution scope: (_) @receiver name: (constant) @name)]) @reference.class)

((call
  !receiver
  method: (identifier) @_mixin
  arguments: (argument_list
    [(constant) @name
     (scope_resolution scope: (_) @receiver name: (constant) @name)])) @reference.class
  (#any-of? @_mixin "include" "extend" "prepend"))

; Imports -------------------------------------------------------------------
; require_relative "item"  -> source ./item (relative to this file)
; require "json"           -> source json (a gem, or a file on the load path)

((call
  !receiver
  method: (identifier) @_require
  arguments: (argument_list . (string (string_content) @import.source) .)) @import
  (#set! import.prefix "./")
  (#eq? @_require "require_relative"))

((call
  !receiver
  method: (identifier) @_require
  arguments: (argument_list . (string (string_content) @import.source) .)) @import
  (#eq? @_require "require"))
