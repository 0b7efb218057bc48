/* placeholder: filled below */
#include <criterion/criterion.h>
Test(placeholder, nothing)
{
}
